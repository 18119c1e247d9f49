"""The ``athalia`` command: base image, cleanup, environment checks, the dashboard, and the history of runs.

Exit status: 0 when the command did its job; 1 from ``athalia envs`` when the folder holds an
invalid environment file or none at all (each problem on stderr); 2 for an error, which is one
paragraph on stderr and never a traceback (a missing folder, no Docker, a failed build, a report
that cannot be read, no runs to show), and for a usage error or no command; 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

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
        help="remove the containers, networks, volumes, images and files that dead runs left behind",
        description=(
            "Removes every athalia-* compose project whose run is provably gone (its owner labels name this "
            "machine, boot and PID namespace, and a process that no longer runs), the images runs built that "
            "no container uses (older builds always, the current build of an environment once the run that "
            "built it is gone), and the generated files of dead runs. Projects and images owned by another "
            "host or PID namespace are left. With --all, also those of live runs, kept stacks and every image "
            "athalia built."
        ),
    )
    clean.add_argument("--all", action="store_true", help="remove every athalia-* project and image, live or dead")
    clean.add_argument("--dry-run", action="store_true", help="list what would be removed, and why the rest stays")
    clean.add_argument("--env", metavar="NAME", help="only the projects and images of environment NAME")
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
    _add_report(sub)

    hist = sub.add_parser(
        "history",
        help="the last runs of each environment, with deploy, switch and rollback times and the rates",
        description=(
            "Reads the history store chosen as pytest-athalia chooses it: --history, else ATHALIA_HISTORY, else "
            "the ini key athalia_history, else history.sqlite beside the report (see docs/history.md)."
        ),
    )
    hist.add_argument("--history", metavar="PATH|URL", help="the store: an SQLite path or a postgresql:// URL")
    hist.add_argument("--env", metavar="NAME", help="only environment NAME")
    hist.add_argument("--limit", type=int, default=10, metavar="N", help="the last N runs of each environment (10)")
    hist.add_argument("--json", action="store_true", help="print JSON instead of tables")
    hist.set_defaults(handler=_history)
    return parser


def _add_report(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    report = sub.add_parser(
        "report",
        help="write a static HTML dashboard of the deployment history and the last run",
        description=(
            "Writes one self-contained HTML file (charts included, works offline): the history of runs with "
            "their statuses, success and rollback rates per environment, trends of deploy, switch and rollback "
            "time, and the last run's gates, load series and release timeline. Needs the report extra "
            "(pip install 'pytest-athalia[report]'). Prints the path written."
        ),
    )
    report.add_argument(
        "--history",
        metavar="PATH|URL",
        help="history store: a SQLite file or a PostgreSQL URL (default reports/history.sqlite, if it exists)",
    )
    report.add_argument(
        "--report",
        metavar="PATH",
        type=Path,
        help="the last run's JSON report (default reports/athalia.json, if it exists; else the history's newest run)",
    )
    report.add_argument("--env", metavar="NAME", help="only the runs of environment NAME")
    report.add_argument("--limit", metavar="N", type=int, help="only the newest N runs")
    report.add_argument(
        "--output", metavar="PATH", type=Path, default=Path("reports/dashboard.html"), help="default %(default)s"
    )
    report.set_defaults(handler=_report)


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
    from .stack._cleanup import PROJECT_PREFIX, DockerResources, carry_out, env_slug, plan_cleanup, sweep_files

    prefix = PROJECT_PREFIX if args.env is None else f"{PROJECT_PREFIX}{env_slug(args.env)}-"
    api = DockerResources.from_env()
    try:
        start = time.monotonic()
        plan = plan_cleanup(api, include_live=args.all, env=args.env)
        verb = "would remove" if args.dry_run else "removing"
        for judged in plan.projects:
            if judged.remove:
                _say(f"{verb} {judged.leftovers.describe()} ({judged.reason()})")
        for image in plan.images:
            if image.remove:
                _say(f"{verb} {image.image.describe()} ({image.reason()})")
        for judged in plan.projects:
            if not judged.remove:
                _say(f"left {judged.project}: {judged.reason()}")
        for image in plan.images:
            if not image.remove:
                _say(f"left {image.image.describe()}: {image.reason()}")
        if args.dry_run:
            for folder in sweep_files(dry_run=True, prefix=prefix):
                _say(f"would remove files of a dead run: {folder}")
            _say(f"{len(plan.doomed_projects)} project(s) and {len(plan.doomed_images)} image(s) would be removed")
            return 0
        result = carry_out(api, plan)
        for refused, reason in result.refused:
            _say(f"left {refused.describe()}: {reason}")
        for folder in sweep_files(prefix=prefix):
            _say(f"removed files of a dead run: {folder}")
        _say(
            f"{len(result.projects)} project(s) and {len(result.images)} image(s) removed in "
            f"{time.monotonic() - start:.1f}s"
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


def _report(args: argparse.Namespace) -> int:
    from .dashboard._command import DashboardRequest, make_dashboard

    request = DashboardRequest(args.history, args.report, args.env, args.limit, args.output)
    print(make_dashboard(request), flush=True)
    return 0


def _history(args: argparse.Namespace) -> int:
    import json

    from .config._settings import history_outside_pytest
    from .history._cli import gather
    from .history._render import history_json, history_text

    chosen = history_outside_pytest(args.history)
    location, groups = gather(chosen, args.env, args.limit)
    if args.json:
        print(json.dumps(history_json(location, groups), indent=2))
    else:
        for line in history_text(location, groups):
            print(line)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
