"""``python3 -m athalia_core [gunicorn options]``: serve the app with gunicorn.

Without options it binds to loopback only; the container image runs gunicorn directly
and chooses its own bind address on the command line.
"""

from __future__ import annotations

import sys

DEFAULT_ARGS = ["--bind", "127.0.0.1:8000", "--workers", "2", "--preload", "--access-logfile", "-"]


def main(argv: list[str] | None = None) -> None:
    from gunicorn.app.wsgiapp import run  # type: ignore[import-untyped]  # no stubs exist

    args = list(sys.argv[1:] if argv is None else argv) or DEFAULT_ARGS
    sys.argv = ["gunicorn", *args, "athalia_core.app:app"]
    run()


if __name__ == "__main__":
    main()
