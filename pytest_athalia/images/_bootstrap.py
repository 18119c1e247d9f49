"""``athalia images bootstrap``: keep, pull or debootstrap the base image.

Every Dockerfile of the demo takes ``ARG BASE_IMAGE`` (default ``debian:bookworm-slim``, which
needs a registry); the demo's environments set it to ``athalia/base:bookworm`` under ``stack.env``.
:func:`bootstrap_base_image` provides that image idempotently, cheapest way first:

1. an image of that name exists locally: keep it (``"kept"``);
2. a public image (``debian:bookworm-slim``) can be pulled: tag it (``"pulled"``);
3. otherwise build a Debian root file system with debootstrap, strip apt's caches and
   ``docker import`` it (``"built"``). This needs only Debian's archive, no registry.

Docker and the shell stay behind :class:`ImageDriver`; :class:`DockerImageDriver` is the real
one and :class:`FakeImageDriver` lets the decisions be tested without Docker.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal, Protocol, final

import docker
import requests

from pytest_athalia._errors import DockerUnavailable, ImageError
from pytest_athalia._process import run_command, stop_process_group

__all__ = [
    "DEFAULT_BASE_IMAGE",
    "DEFAULT_DEBOOTSTRAP",
    "DEFAULT_PULL_SOURCE",
    "IMPORT_CHANGES",
    "BaseImageResult",
    "DebootstrapSpec",
    "DockerImageDriver",
    "FakeImageDriver",
    "ImageDriver",
    "bootstrap_base_image",
]

DEFAULT_BASE_IMAGE: Final = "athalia/base:bookworm"
DEFAULT_PULL_SOURCE: Final = "debian:bookworm-slim"
# What a Dockerfile expects of a base image that debootstrap cannot set.
IMPORT_CHANGES: Final = ('CMD ["/bin/bash"]', "ENV LANG=C.UTF-8")

_TAIL_LINES: Final = 8
# Registry outages look like this in the daemon's answer; they are expected offline.
_NETWORK_MARKERS: Final = (
    "no such host",
    "dial tcp",
    "connection refused",
    "i/o timeout",
    "network is unreachable",
    "tls handshake timeout",
)


@dataclass(frozen=True, slots=True)
class DebootstrapSpec:
    """What debootstrap installs: ``debootstrap --variant=<variant> --include=... <suite> DIR <mirror>``."""

    suite: str = "bookworm"
    mirror: str = "http://deb.debian.org/debian"
    include: tuple[str, ...] = ("python3", "ca-certificates", "curl")
    variant: str = "minbase"

    def argv(self, executable: str, rootfs: Path) -> list[str]:
        include = [f"--include={','.join(self.include)}"] if self.include else []
        return [executable, f"--variant={self.variant}", *include, self.suite, str(rootfs), self.mirror]


DEFAULT_DEBOOTSTRAP: Final = DebootstrapSpec()


@dataclass(frozen=True, slots=True)
class BaseImageResult:
    """The base image that is now present, and how it got there."""

    name: str
    how: Literal["kept", "pulled", "built"]
    image_id: str
    seconds: float


class ImageDriver(Protocol):
    """The Docker and shell operations :func:`bootstrap_base_image` decides between.

    Every method raises :class:`ImageError` whose message says what failed, the tool's last
    output and the fix.
    """

    def image_id(self, name: str) -> str | None:
        """The id of the local image ``name``, or None if there is none."""

    def pull(self, source: str, *, timeout: float) -> str:
        """Pull ``source`` within ``timeout`` seconds and return its id."""

    def tag(self, image: str, target: str) -> None:
        """Give image ``image`` (id or name) the name ``target``."""

    def prepare_debootstrap(self) -> bool:
        """Make sure debootstrap can run; True if it had to be installed first."""

    def debootstrap(self, spec: DebootstrapSpec, rootfs: Path) -> None:
        """Install a Debian root file system into the new directory ``rootfs``."""

    def import_rootfs(self, rootfs: Path, changes: Sequence[str]) -> str:
        """Import ``rootfs`` as an untagged image with Dockerfile ``changes``; return its id."""


def _silent(_line: str) -> None:
    pass


def bootstrap_base_image(
    name: str = DEFAULT_BASE_IMAGE,
    *,
    force: bool = False,
    source: str | None = DEFAULT_PULL_SOURCE,
    pull_timeout: float = 30.0,
    spec: DebootstrapSpec = DEFAULT_DEBOOTSTRAP,
    workdir: Path | None = None,
    driver: ImageDriver | None = None,
    progress: Callable[[str], None] = _silent,
) -> BaseImageResult:
    """Make sure the image ``name`` exists: keep it, pull ``source`` as it, or build it.

    ``force`` ignores an existing image (which keeps its id, only loses the name once the new
    one is ready). ``source=None`` skips the pull. The root file system is built in a temporary
    directory under ``workdir`` (default: ``TMPDIR``) that is removed afterwards, also on errors
    and Ctrl-C. Raises :class:`ImageError`; :class:`DockerUnavailable` without a daemon.
    """
    start = time.monotonic()
    driver = DockerImageDriver() if driver is None else driver

    def report(text: str) -> None:
        progress(f"base image {name}: {text}")

    def result(how: Literal["kept", "pulled", "built"], image_id: str) -> BaseImageResult:
        return BaseImageResult(name, how, image_id, round(time.monotonic() - start, 3))

    existing = driver.image_id(name)
    if existing is not None and not force:
        report(f"found locally ({_short(existing)}) ... kept in {_since(start)}")
        return result("kept", existing)
    if existing is not None:
        report(f"found locally ({_short(existing)}) ... replacing it (force)")

    pull_failure = None
    if source is not None:
        phase = time.monotonic()
        try:
            pulled = driver.pull(source, timeout=pull_timeout)
        except ImageError as exc:
            pull_failure = str(exc)
            report(f"pulling {source} ... failed after {_since(phase)} ({exc})")
        else:
            if source != name:
                driver.tag(pulled, name)
            report(f"pulling {source} ... done in {_since(phase)} ({_short(pulled)})")
            return result("pulled", pulled)

    try:
        built = _build(name, spec, workdir, driver, report)
    except ImageError as exc:
        after_pull = f" Pulling {source} had failed first: {pull_failure}" if pull_failure else ""
        raise ImageError(
            f"Cannot build base image {name}: {exc} Or build FROM an image you already have: set BASE_IMAGE "
            f"under stack.env in the environment file to it.{after_pull}"
        ) from exc
    report(f"built in {_since(start)} ({_short(built)})")
    return result("built", built)


def _build(
    name: str,
    spec: DebootstrapSpec,
    workdir: Path | None,
    driver: ImageDriver,
    report: Callable[[str], None],
) -> str:
    phase = time.monotonic()
    if driver.prepare_debootstrap():
        report(f"installing debootstrap with apt-get ... done in {_since(phase)}")
    with _scratch_dir(workdir) as scratch:
        rootfs = scratch / "rootfs"
        phase = time.monotonic()
        # The only long phase (about a minute), so it also says when it starts.
        report(f"debootstrap {spec.suite} from {spec.mirror} (about a minute) ...")
        driver.debootstrap(spec, rootfs)
        report(f"debootstrap {spec.suite} ... done in {_since(phase)}")
        phase = time.monotonic()
        freed = _strip_apt_caches(rootfs)
        report(f"removing apt caches and lists ... {freed / 1e6:.0f} MB freed in {_since(phase)}")
        phase = time.monotonic()
        image = driver.import_rootfs(rootfs, IMPORT_CHANGES)
        # Tagged only once complete, so a failed build never takes the name of a good image.
        driver.tag(image, name)
        report(f"docker import ... done in {_since(phase)} ({_short(image)})")
    return image


def _since(start: float) -> str:
    return f"{time.monotonic() - start:.1f}s"


def _short(image_id: str) -> str:
    return image_id.removeprefix("sha256:")[:12]


# --- the scratch directory -------------------------------------------------------------------


@contextlib.contextmanager
def _scratch_dir(parent: Path | None) -> Iterator[Path]:
    try:
        path = Path(tempfile.mkdtemp(prefix="athalia-rootfs-", dir=parent))
    except OSError as exc:
        raise ImageError(
            f"Cannot create a scratch directory under {parent or tempfile.gettempdir()} ({exc}). "
            "Fix: point TMPDIR (or workdir) at a writable directory with about 300 MB free."
        ) from exc
    try:
        yield path
    except BaseException as exc:
        try:
            _remove_scratch(path)
        except ImageError as cleanup:
            exc.add_note(str(cleanup))
        raise
    _remove_scratch(path)


def _remove_scratch(path: Path) -> None:
    # debootstrap mounts /proc and /sys into the target and unmounts them only when it ends
    # normally; deleting through a live /sys mount would be a disaster.
    for mount in _mounts_under(path.resolve(), _read_mountinfo()):
        for argv in (["umount", str(mount)], ["umount", "--lazy", str(mount)]):
            if run_command(argv, timeout=60, what="umount", check=False, error=ImageError).returncode == 0:
                break
    left = _mounts_under(path.resolve(), _read_mountinfo())
    if left:
        raise ImageError(
            f"Did not remove the scratch directory {path}: {', '.join(map(str, left))} "
            f"is still mounted. Fix: `umount --recursive --lazy {path}`, then `rm -rf {path}`."
        )
    try:
        shutil.rmtree(path)
    except OSError as exc:
        raise ImageError(f"Could not remove the scratch directory {path} ({exc}). Fix: remove it by hand.") from exc


def _read_mountinfo() -> str:
    try:
        return Path("/proc/self/mountinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _mounts_under(root: Path, mountinfo: str) -> list[Path]:
    """Mount points at or below ``root`` in ``/proc/self/mountinfo`` text, deepest first."""
    found = []
    for line in mountinfo.splitlines():
        fields = line.split()
        if len(fields) < 5:
            continue
        point = Path(re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), fields[4]))
        if point == root or root in point.parents:
            found.append(point)
    return sorted(set(found), key=lambda p: len(p.parts), reverse=True)


def _strip_apt_caches(rootfs: Path) -> int:
    """Delete downloaded .debs, apt's binary caches and package lists; return the bytes freed."""
    freed = 0
    top = rootfs.resolve()
    for folder, pattern in (
        ("var/cache/apt/archives", "*.deb"),
        ("var/cache/apt", "*.bin"),
        ("var/lib/apt/lists", "*"),
    ):
        base = rootfs / folder
        # A symlinked folder could point out of the root file system, e.g. at the host's /var.
        if not base.is_dir() or not base.resolve().is_relative_to(top) or base.resolve() == top:
            continue
        for entry in base.glob(pattern):
            if entry.is_dir() and not entry.is_symlink():
                freed += sum(f.lstat().st_size for f in entry.rglob("*") if not f.is_dir())
                shutil.rmtree(entry)
            else:
                freed += entry.lstat().st_size
                entry.unlink()
    return freed


# --- the fake driver -------------------------------------------------------------------------


@dataclass
class FakeImageDriver:
    """An in-memory :class:`ImageDriver` that records its calls and fails where told to.

    ``images`` are the local images (name -> id), ``registry`` what :meth:`pull` can fetch.
    :meth:`debootstrap` writes a tiny root file system with apt caches, so callers can check
    what reached :meth:`import_rootfs` (``imported_files``) and that the directory is gone.
    """

    images: dict[str, str] = field(default_factory=dict)
    registry: dict[str, str] = field(default_factory=dict)
    pull_error: str = 'no registry: Get "https://registry-1.docker.io/v2/": dial tcp: no such host'
    debootstrap_installed: bool = True
    prepare_error: str | None = None
    debootstrap_error: BaseException | None = None
    import_error: str | None = None
    built_id: str = "sha256:" + "b" * 64
    calls: list[str] = field(default_factory=list)
    imported_files: list[str] = field(default_factory=list)
    rootfs_dirs: list[Path] = field(default_factory=list)

    def image_id(self, name: str) -> str | None:
        self.calls.append(f"image_id {name}")
        return self.images.get(name)

    def pull(self, source: str, *, timeout: float) -> str:
        self.calls.append(f"pull {source} timeout={timeout:g}")
        if source not in self.registry:
            raise ImageError(self.pull_error)
        self.images[source] = self.registry[source]
        return self.registry[source]

    def tag(self, image: str, target: str) -> None:
        self.calls.append(f"tag {_short(image)} {target}")
        self.images[target] = self.images.get(image, image)

    def prepare_debootstrap(self) -> bool:
        self.calls.append("prepare_debootstrap")
        if self.prepare_error is not None:
            raise ImageError(self.prepare_error)
        installed, self.debootstrap_installed = not self.debootstrap_installed, True
        return installed

    def debootstrap(self, spec: DebootstrapSpec, rootfs: Path) -> None:
        self.calls.append(f"debootstrap {spec.suite} {spec.mirror}")
        self.rootfs_dirs.append(rootfs)
        for relative, size in (
            ("etc/os-release", 10),
            ("usr/bin/python3", 100),
            ("var/cache/apt/archives/python3_3.11_amd64.deb", 2_000_000),
            ("var/cache/apt/archives/lock", 0),
            ("var/cache/apt/pkgcache.bin", 1_000_000),
            ("var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages", 3_000_000),
            ("var/lib/apt/lists/partial/x", 1),
        ):
            (rootfs / relative).parent.mkdir(parents=True, exist_ok=True)
            (rootfs / relative).write_bytes(b"x" * size)
            if self.debootstrap_error is not None and relative.startswith("var/"):
                raise self.debootstrap_error  # half-way, like a real failure

    def import_rootfs(self, rootfs: Path, changes: Sequence[str]) -> str:
        self.calls.append(f"import_rootfs {' | '.join(changes)}")
        if self.import_error is not None:
            raise ImageError(self.import_error)
        self.imported_files = sorted(str(p.relative_to(rootfs)) for p in rootfs.rglob("*") if p.is_file())
        return self.built_id


# --- the real driver -------------------------------------------------------------------------


@final
class DockerImageDriver:
    """The real :class:`ImageDriver`: the Docker SDK inspects, pulls and tags; debootstrap,
    ``tar`` and ``docker import`` build. ``client`` is a ``docker.DockerClient``."""

    def __init__(self, client: Any = None, *, docker_cli: str = "docker") -> None:
        if client is None:
            try:
                client = docker.from_env()
                client.ping()
            except (docker.errors.DockerException, requests.RequestException) as exc:
                raise DockerUnavailable(
                    f"Cannot reach the Docker daemon to provide the base image ({exc}). Fix: start "
                    "Docker, or point DOCKER_HOST at a running daemon; `docker info` must answer."
                ) from exc
        self._client = client
        self._docker_cli = docker_cli

    def image_id(self, name: str) -> str | None:
        try:
            return str(self._client.api.inspect_image(name)["Id"])
        except docker.errors.NotFound:
            return None
        except (docker.errors.DockerException, requests.RequestException) as exc:
            raise ImageError(f"Cannot inspect image {name}: {_docker_reason(exc)}") from exc

    def pull(self, source: str, *, timeout: float) -> str:
        repository, tag = _split_reference(source)
        failures: list[str] = []

        def run() -> None:
            try:
                for message in self._client.api.pull(repository, tag=tag, stream=True, decode=True):
                    if isinstance(message, dict) and message.get("error"):
                        failures.append(str(message["error"]))
                        return
            except Exception as exc:
                failures.append(_docker_reason(exc))

        # The SDK pulls without any read timeout; a thread bounds the wait. An unfinished pull
        # goes on in the daemon, which is harmless.
        worker = threading.Thread(target=run, name=f"athalia-pull-{source}", daemon=True)
        worker.start()
        worker.join(timeout)
        if worker.is_alive():
            raise ImageError(f"no answer within {timeout:g}s")
        if failures:
            raise ImageError(failures[0])
        image = self.image_id(source)
        if image is None:
            raise ImageError(f"the pull finished but no image {source} is present")
        return image

    def tag(self, image: str, target: str) -> None:
        repository, tag = _split_reference(target)
        try:
            tagged = self._client.api.tag(image, repository, tag, force=True)
        except (docker.errors.DockerException, requests.RequestException) as exc:
            raise ImageError(f"Cannot tag {image} as {target}: {_docker_reason(exc)}") from exc
        if not tagged:
            raise ImageError(f"Cannot tag {image} as {target}: the daemon refused.")

    def prepare_debootstrap(self) -> bool:
        root = os.geteuid() == 0
        if _find_debootstrap() is not None:
            if not root:
                raise ImageError(
                    f"debootstrap needs root (it chroots and creates device nodes), and this process "
                    f"runs as uid {os.geteuid()}. Fix: run `athalia images bootstrap` as root."
                )
            return False
        if not root:
            raise ImageError(
                "debootstrap is not installed, and only root can install and run it. Fix: "
                "`sudo apt-get install -y debootstrap`, then run `athalia images bootstrap` as root."
            )
        if shutil.which("apt-get") is None:
            raise ImageError(
                "debootstrap is not installed and there is no apt-get to install it. Fix: install "
                "debootstrap with this system's package manager."
            )
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "--no-install-recommends", "debootstrap"]
        code, tail = _run_logged(install, env=env)
        if code != 0:
            # A fresh machine may have no package lists yet.
            _run_logged(["apt-get", "update"], env=env)
            code, tail = _run_logged(install, env=env)
        if code != 0 or _find_debootstrap() is None:
            raise ImageError(
                f"`{' '.join(install)}` {_ended(code)}.{_format_tail(tail)} "
                "Fix: make the Debian archive reachable, or install debootstrap by hand."
            )
        return True

    def debootstrap(self, spec: DebootstrapSpec, rootfs: Path) -> None:
        executable = _find_debootstrap()
        if executable is None:
            raise ImageError("debootstrap is not installed. Fix: `apt-get install -y debootstrap` as root.")
        start = time.monotonic()
        argv = spec.argv(executable, rootfs)
        code, tail = _run_logged(argv)
        if code == 0:
            return
        # Its log lives inside rootfs, which is about to be deleted.
        log = rootfs / "debootstrap" / "debootstrap.log"
        with contextlib.suppress(OSError):
            log_tail = _last_lines(log.read_text(errors="replace"))[-4:]
            tail += [f"debootstrap.log: {line}" for line in log_tail]
        if any("noexec or nodev" in line for line in tail):
            fix = "point TMPDIR (or workdir) at a file system mounted without noexec and nodev."
        else:
            fix = f"check that {spec.mirror} is reachable from this host and has the suite {spec.suite}."
        raise ImageError(f"`{' '.join(argv)}` {_ended(code)} after {_since(start)}.{_format_tail(tail)} Fix: {fix}")

    def import_rootfs(self, rootfs: Path, changes: Sequence[str]) -> str:
        changes_argv = [arg for change in changes for arg in ("--change", change)]
        import_argv = [self._docker_cli, "import", *changes_argv, "-"]
        # Streamed through a pipe: a 180 MB temporary tarball would only cost time and disk.
        with (
            tempfile.TemporaryFile() as tar_errors,
            _popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE, stderr=tar_errors) as tar,
        ):
            assert tar.stdout is not None
            try:
                with _popen(import_argv, stdin=tar.stdout, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as importer:
                    tar.stdout.close()  # so tar gets SIGPIPE if docker import dies
                    try:
                        out, err = importer.communicate()
                    except BaseException:
                        _stop(importer)
                        raise
                tar_code = tar.wait()
            except BaseException:
                _stop(tar)
                raise
            tar_errors.seek(0)
            tar_tail = _last_lines(tar_errors.read().decode(errors="replace"))
        image = out.decode().strip()
        if importer.returncode != 0 or not image:
            raise ImageError(
                f"`{' '.join(import_argv)}` {_ended(importer.returncode)}."
                f"{_format_tail(_last_lines(err.decode(errors='replace')) + tar_tail)} Fix: check "
                f"that the docker CLI ({self._docker_cli}) is installed and reaches the daemon "
                "(`docker info`)."
            )
        if tar_code >= 2:  # 1 only means files changed while being read
            with contextlib.suppress(docker.errors.DockerException, requests.RequestException):
                self._client.api.remove_image(image)
            raise ImageError(
                f"`tar -C {rootfs} -c .` {_ended(tar_code)}, so the imported image "
                f"was incomplete and is removed.{_format_tail(tar_tail)} Fix: check free space and "
                "permissions in the scratch directory."
            )
        return image


def _split_reference(reference: str) -> tuple[str, str]:
    repository, tag = docker.utils.parse_repository_tag(reference)
    return str(repository), str(tag or "latest")


def _docker_reason(exc: BaseException) -> str:
    if isinstance(exc, docker.errors.APIError) and exc.explanation:
        reason = str(exc.explanation)
    elif isinstance(exc, requests.ConnectionError):
        reason = f"cannot reach the Docker daemon: {exc}"
    else:
        reason = str(exc) or type(exc).__name__
    reason = " ".join(reason.split())
    if any(marker in reason.lower() for marker in _NETWORK_MARKERS):
        return f"no registry: {reason}"
    return reason


def _find_debootstrap() -> str | None:
    # Non-root PATHs often lack the sbin directories where Debian installs it.
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    return shutil.which("debootstrap", path=path)


def _popen(argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[bytes]:
    # Only for the `tar | docker import` pipeline, whose processes share a pipe: every other
    # command goes through pytest_athalia._process.run_command.
    try:
        # A session of its own: Ctrl-C reaches only us, and _stop ends the whole tree in order.
        return subprocess.Popen(argv, start_new_session=True, **kwargs)
    except OSError as exc:
        raise ImageError(f"Cannot run `{argv[0]}` ({exc}). Fix: install it and put it on PATH.") from exc


def _stop(proc: subprocess.Popen[bytes]) -> None:
    # Politely first, so debootstrap's children quit too.
    stop_process_group(proc, term_grace=10.0)


def _run_logged(argv: Sequence[str], *, env: dict[str, str] | None = None) -> tuple[int, list[str]]:
    """Run ``argv`` with stdout and stderr merged; return its exit status and last lines."""
    result = run_command(
        argv,
        env=env,
        what=f"`{argv[0]}`",
        check=False,
        error=ImageError,
        timeout_error=ImageError,
        install_hint=f"Fix: install {argv[0]} and put it on PATH.",
        term_grace=10.0,  # politely first, so debootstrap's children quit too
    )
    return result.returncode, _last_lines(result.output)


def _last_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()][-_TAIL_LINES:]


def _format_tail(lines: Sequence[str]) -> str:
    if not lines:
        return ""
    return " Last output: " + " / ".join(" ".join(line.split()) for line in lines).rstrip(".") + "."


def _ended(code: int) -> str:
    return f"was killed by signal {-code}" if code < 0 else f"failed with exit status {code}"
