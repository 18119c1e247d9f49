"""The ``athalia`` command: base image, cleanup, and environment checks.

Exit status: 0 when the command did its job; 1 from ``athalia envs`` when the folder holds an
invalid environment file or none at all (each problem on stderr); 2 for an error, which is one
paragraph on stderr and never a traceback (a missing folder, no Docker, a failed build), and for
a usage error or no command; 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from ._errors import AthaliaError

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help()
        return 2
    try:
        code: int = args.handler(args)
        return code
    except AthaliaError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("athalia: interrupted", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    from . import __version__
    from .images._bootstrap import DEFAULT_BASE_IMAGE, DEFAULT_PULL_SOURCE

    parser = argparse.ArgumentParser(
        prog="athalia", description="pytest-athalia helpers: base image, cleanup, environment checks."
    )
    parser.add_argument("--version", action="version", version=f"athalia (pytest-athalia) {__version__}")
    sub = parser.add_subparsers(title="commands")

    images = sub.add_parser("images", help="local images").add_subparsers(title="images commands")
    boot = images.add_parser(
        "bootstrap",
        help="make the base image every Dockerfile builds FROM: keep it, pull it, or build it from Debian",
        description=(
            "Idempotent. Keeps NAME if it exists; else pulls SOURCE and tags it NAME where a registry "
            "answers; else builds NAME from Debian with debootstrap (needs root and debootstrap)."
        ),
    )
    boot.add_argument("--name", default=DEFAULT_BASE_IMAGE, help=f"image to provide (default {DEFAULT_BASE_IMAGE})")
    boot.add_argument(
        "--source",
        default=DEFAULT_PULL_SOURCE,
        help=f"public image to pull first (default {DEFAULT_PULL_SOURCE})",
    )
    boot.add_argument("--no-pull", action="store_true", help="do not try a registry; build from Debian")
    boot.add_argument("--force", action="store_true", help="rebuild even if NAME exists")
    boot.set_defaults(handler=_images_bootstrap)

    clean = sub.add_parser(
        "cleanup",
        help="remove containers, networks and volumes that dead runs left behind",
        description=(
            "Removes every athalia-* compose project whose pytest process is gone. "
            "With --all, also those of live runs and stacks kept with --athalia-keep."
        ),
    )
    clean.add_argument("--all", action="store_true", help="remove every athalia-* project, live or dead")
    clean.add_argument("--dry-run", action="store_true", help="list what would be removed")
    clean.set_defaults(handler=_cleanup)

    envs = sub.add_parser(
        "envs",
        help="list and validate the environment files",
        description=(
            "Validates every NAME.yml of the environments folder, chosen as pytest-athalia chooses it: FOLDER, "
            "else ATHALIA_ENVIRONMENTS, else the ini key athalia_environments of the pytest configuration "
            "file found from the current directory, else ./environments beside that file. "
            "Exit status: 0 if every file is valid, 1 if one is invalid or there is none, 2 on an error."
        ),
    )
    envs.add_argument("folder", nargs="?", default=None, help="environments folder (see above for the default)")
    envs.set_defaults(handler=_envs)
    return parser


def _say(text: str) -> None:
    print(f"athalia: {text}", flush=True)


def _images_bootstrap(args: argparse.Namespace) -> int:
    from .images._bootstrap import bootstrap_base_image

    result = bootstrap_base_image(
        args.name, force=args.force, source=None if args.no_pull else args.source, progress=_say
    )
    _say(f"base image {result.name} {result.how} ({result.image_id[:19]}) in {result.seconds:.1f}s")
    return 0


def _cleanup(args: argparse.Namespace) -> int:
    from .stack._cleanup import DockerResources, find_leftovers, owner_pid, pid_alive, sweep, sweep_files

    api = DockerResources.from_env()
    try:
        if args.dry_run:
            found = [
                f
                for f in find_leftovers(api)
                if args.all or ((pid := owner_pid(f.project)) is not None and not pid_alive(pid))
            ]
            for leftovers in found:
                _say(f"would remove {leftovers.describe()}")
            for folder in sweep_files(dry_run=True):
                _say(f"would remove files of a dead run: {folder}")
            _say(f"{len(found)} project(s) would be removed")
            return 0
        start = time.monotonic()
        removed = sweep(api, include_live=args.all)
        for folder in sweep_files():
            _say(f"removed files of a dead run: {folder}")
        for leftovers in removed:
            _say(f"removed {leftovers.describe()}")
        kept = [f.project for f in find_leftovers(api)]
        _say(
            f"{len(removed)} project(s) removed in {time.monotonic() - start:.1f}s"
            + (f"; still running (live or kept; use --all): {', '.join(kept)}" if kept else "")
        )
        return 0
    finally:
        api.close()


def _envs(args: argparse.Namespace) -> int:
    from .config._environment import list_environments, load_environment
    from .config._settings import environments_dir_outside_pytest

    chosen = environments_dir_outside_pytest(args.folder)
    folder = chosen.value
    # A default folder came from no setting: name every one that would move it.
    settings = "athalia envs FOLDER, ATHALIA_ENVIRONMENTS or ini athalia_environments"
    origin = settings if chosen.origin == "default" else chosen.origin
    names = list_environments(folder, folder_origin=origin)  # a missing folder: the error names its origin
    source = f"default: none of {settings} is set" if chosen.origin == "default" else f"from {chosen.origin}"
    _say(f"environments folder {folder} ({source})")
    if not names:
        print(f"athalia: no environment files (NAME.yml or NAME.yaml) in {folder}.", file=sys.stderr)
        return 1
    bad = 0
    for name in names:
        try:
            env = load_environment(name, folder, origin="athalia envs", folder_origin=origin)
        except AthaliaError as exc:
            bad += 1
            print(str(exc), file=sys.stderr)
            continue
        spec = env.spec
        _say(
            f"{name}: ok ({env.path}; provider {spec.provider}, service {spec.stack.service}:{spec.stack.port}, "
            f"startup SLO {spec.slo.startup.max_seconds:g}s)"
        )
    return 1 if bad else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
