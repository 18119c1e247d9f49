"""The base image decisions, against FakeImageDriver and stand-in tools; no Docker needed."""

from __future__ import annotations

import dataclasses
import os
import re
import stat
import tarfile
from pathlib import Path

import docker
import pytest

from pytest_athalia._errors import ImageError
from pytest_athalia.images import _bootstrap as images
from pytest_athalia.images._bootstrap import (
    DEFAULT_BASE_IMAGE,
    DEFAULT_PULL_SOURCE,
    BaseImageResult,
    DebootstrapSpec,
    DockerImageDriver,
    FakeImageDriver,
    bootstrap_base_image,
)

OLD_ID = "sha256:" + "0" * 64
SLIM_ID = "sha256:" + "5" * 64
NAME = DEFAULT_BASE_IMAGE


def run(driver: FakeImageDriver, workdir: Path, **kwargs: object) -> tuple[BaseImageResult, list[str]]:
    lines: list[str] = []
    result = bootstrap_base_image(
        driver=driver,
        workdir=workdir,
        progress=lines.append,
        **kwargs,  # type: ignore[arg-type]
    )
    return result, [re.sub(r"\b\d+\.\ds\b", "N.Ns", line) for line in lines]


# --- kept / pulled / built -------------------------------------------------------------------


def test_keeps_an_existing_image_without_pulling(tmp_path: Path) -> None:
    """An image of the target name is kept; nothing is pulled or built."""
    driver = FakeImageDriver(images={NAME: OLD_ID}, registry={DEFAULT_PULL_SOURCE: SLIM_ID})
    result, lines = run(driver, tmp_path)
    assert (result.name, result.how, result.image_id) == (NAME, "kept", OLD_ID)
    assert result.seconds < 5
    assert driver.calls == [f"image_id {NAME}"]
    assert lines == [f"base image {NAME}: found locally (000000000000) ... kept in N.Ns"]


def test_pulls_and_tags_the_public_image(tmp_path: Path) -> None:
    """Without a local image, a pullable source is pulled and tagged as the target."""
    driver = FakeImageDriver(registry={DEFAULT_PULL_SOURCE: SLIM_ID})
    result, lines = run(driver, tmp_path, pull_timeout=7.5)
    assert (result.how, result.image_id) == ("pulled", SLIM_ID)
    assert driver.images[NAME] == SLIM_ID
    assert driver.calls == [
        f"image_id {NAME}",
        f"pull {DEFAULT_PULL_SOURCE} timeout=7.5",
        f"tag 555555555555 {NAME}",
    ]
    assert lines == [f"base image {NAME}: pulling {DEFAULT_PULL_SOURCE} ... done in N.Ns (555555555555)"]


def test_builds_with_debootstrap_when_the_pull_fails(tmp_path: Path) -> None:
    """No registry: debootstrap, strip apt caches, import, then tag - one progress line per phase."""
    driver = FakeImageDriver()
    result, lines = run(driver, tmp_path)
    assert (result.how, result.image_id) == ("built", driver.built_id)
    assert driver.images[NAME] == driver.built_id
    assert driver.calls == [
        f"image_id {NAME}",
        f"pull {DEFAULT_PULL_SOURCE} timeout=30",
        "prepare_debootstrap",
        "debootstrap bookworm http://deb.debian.org/debian",
        'import_rootfs CMD ["/bin/bash"] | ENV LANG=C.UTF-8',
        f"tag bbbbbbbbbbbb {NAME}",
    ]
    prefix = f"base image {NAME}: "
    assert lines == [
        f"{prefix}pulling {DEFAULT_PULL_SOURCE} ... failed after N.Ns ({driver.pull_error})",
        f"{prefix}debootstrap bookworm from http://deb.debian.org/debian (about a minute) ...",
        f"{prefix}debootstrap bookworm ... done in N.Ns",
        f"{prefix}removing apt caches and lists ... 6 MB freed in N.Ns",
        f"{prefix}docker import ... done in N.Ns (bbbbbbbbbbbb)",
        f"{prefix}built in N.Ns (bbbbbbbbbbbb)",
    ]


def test_the_imported_rootfs_has_no_apt_caches(tmp_path: Path) -> None:
    """Downloaded .debs, apt's .bin caches and package lists never reach the image."""
    driver = FakeImageDriver()
    run(driver, tmp_path)
    assert driver.imported_files == [
        "etc/os-release",
        "usr/bin/python3",
        "var/cache/apt/archives/lock",
    ]


def test_skips_the_pull_without_a_source(tmp_path: Path) -> None:
    """source=None goes straight to debootstrap."""
    driver = FakeImageDriver(registry={DEFAULT_PULL_SOURCE: SLIM_ID})
    result, _ = run(driver, tmp_path, source=None)
    assert result.how == "built"
    assert not any(call.startswith("pull") for call in driver.calls)


def test_uses_the_given_debootstrap_spec(tmp_path: Path) -> None:
    """Suite and mirror come from the spec."""
    driver = FakeImageDriver()
    spec = DebootstrapSpec(suite="trixie", mirror="http://mirror.example/debian")
    _, lines = run(driver, tmp_path, spec=spec)
    assert "debootstrap trixie http://mirror.example/debian" in driver.calls
    assert f"base image {NAME}: debootstrap trixie ... done in N.Ns" in lines


def test_reports_installing_debootstrap(tmp_path: Path) -> None:
    """When debootstrap had to be installed first, that is a phase of its own."""
    driver = FakeImageDriver(debootstrap_installed=False)
    _, lines = run(driver, tmp_path, source=None)
    assert lines[0] == f"base image {NAME}: installing debootstrap with apt-get ... done in N.Ns"


# --- force -----------------------------------------------------------------------------------


def test_force_rebuilds_an_existing_image(tmp_path: Path) -> None:
    """force ignores the local image and gives its name to the new one."""
    driver = FakeImageDriver(images={NAME: OLD_ID})
    result, lines = run(driver, tmp_path, force=True)
    assert (result.how, result.image_id) == ("built", driver.built_id)
    assert driver.images[NAME] == driver.built_id
    assert lines[0] == f"base image {NAME}: found locally (000000000000) ... replacing it (force)"


def test_force_still_prefers_a_pull(tmp_path: Path) -> None:
    """force skips only the keep step; a pullable source still wins over debootstrap."""
    driver = FakeImageDriver(images={NAME: OLD_ID}, registry={DEFAULT_PULL_SOURCE: SLIM_ID})
    result, _ = run(driver, tmp_path, force=True)
    assert (result.how, result.image_id) == ("pulled", SLIM_ID)
    assert driver.images[NAME] == SLIM_ID


def test_a_failed_import_keeps_the_old_image_name(tmp_path: Path) -> None:
    """The name moves only to a complete image, so a failed forced rebuild changes nothing."""
    driver = FakeImageDriver(images={NAME: OLD_ID}, import_error="docker import exploded.")
    with pytest.raises(ImageError):
        run(driver, tmp_path, force=True)
    assert driver.images[NAME] == OLD_ID


# --- the scratch directory -------------------------------------------------------------------


def test_the_scratch_directory_is_removed_after_a_build(tmp_path: Path) -> None:
    """debootstrap works in a temporary directory under workdir, gone afterwards."""
    driver = FakeImageDriver()
    run(driver, tmp_path)
    [rootfs] = driver.rootfs_dirs
    assert rootfs.parent.parent == tmp_path
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "error",
    [ImageError("debootstrap failed."), KeyboardInterrupt(), OSError("disk full")],
    ids=["ImageError", "KeyboardInterrupt", "OSError"],
)
def test_the_scratch_directory_is_removed_when_debootstrap_fails(tmp_path: Path, error: BaseException) -> None:
    """A half-built root file system is deleted whatever ends debootstrap, and the error passes."""
    driver = FakeImageDriver(debootstrap_error=error)
    with pytest.raises(type(error)):
        run(driver, tmp_path)
    assert driver.rootfs_dirs
    assert list(tmp_path.iterdir()) == []
    assert NAME not in driver.images


def test_a_missing_workdir_is_an_image_error(tmp_path: Path) -> None:
    """The fix names TMPDIR/workdir."""
    with pytest.raises(ImageError, match=r"Cannot create a scratch directory .* Fix: point TMPDIR"):
        run(FakeImageDriver(), tmp_path / "missing")


def test_mounts_under_finds_nested_mounts_deepest_first() -> None:
    """Leftover debootstrap mounts are found (octal escapes decoded) and unmounted inner first."""
    mountinfo = "\n".join(
        [
            "22 1 0:21 / /proc rw,nosuid - proc proc rw",
            r"90 80 0:5 / /tmp/athalia-rootfs-x/rootfs/proc rw - proc proc rw",
            r"91 90 0:6 / /tmp/athalia-rootfs-x/rootfs/proc/sys/fs/binfmt_misc rw - binfmt_misc x rw",
            r"92 80 0:7 / /tmp/athalia-rootfs-x/my\040dir rw - tmpfs t rw",
            r"93 80 0:8 / /tmp/athalia-rootfs-xy rw - tmpfs t rw",
            "garbage",
        ]
    )
    found = images._mounts_under(Path("/tmp/athalia-rootfs-x"), mountinfo)
    assert found == [
        Path("/tmp/athalia-rootfs-x/rootfs/proc/sys/fs/binfmt_misc"),
        Path("/tmp/athalia-rootfs-x/rootfs/proc"),
        Path("/tmp/athalia-rootfs-x/my dir"),
    ]


def test_stripping_never_follows_a_symlink_out_of_the_rootfs(tmp_path: Path) -> None:
    """A rootfs whose var/lib/apt/lists points at the host leaves the host's files alone."""
    host_lists = tmp_path / "host-lists"
    host_lists.mkdir()
    (host_lists / "Packages").write_text("host")
    rootfs = tmp_path / "rootfs"
    (rootfs / "var/lib/apt").mkdir(parents=True)
    (rootfs / "var/lib/apt/lists").symlink_to(host_lists)
    assert images._strip_apt_caches(rootfs) == 0
    assert (host_lists / "Packages").read_text() == "host"


# --- error messages --------------------------------------------------------------------------


def test_a_failed_build_says_what_why_and_how_to_fix_in_one_paragraph(tmp_path: Path) -> None:
    """The message has the tool's failure, the fix, the stack.env BASE_IMAGE way out and the pull failure."""
    driver = FakeImageDriver(
        debootstrap_error=ImageError(
            "`debootstrap ...` failed with exit status 1. Last output: E: Failed getting release "
            "file. Fix: check that the mirror is reachable."
        )
    )
    with pytest.raises(ImageError) as caught:
        run(driver, tmp_path)
    message = str(caught.value)
    assert message.startswith(f"Cannot build base image {NAME}: `debootstrap ...` failed with exit status 1.")
    assert "E: Failed getting release file" in message
    assert "Fix: check that the mirror is reachable." in message
    assert "set BASE_IMAGE under stack.env in the environment file" in message
    assert f"Pulling {DEFAULT_PULL_SOURCE} had failed first: {driver.pull_error}" in message
    assert "\n" not in message


def test_a_prepare_failure_stops_before_any_scratch_directory(tmp_path: Path) -> None:
    """Not root / no debootstrap: the driver's fix is passed on, nothing is created."""
    driver = FakeImageDriver(prepare_error="debootstrap needs root. Fix: run as root.")
    with pytest.raises(ImageError, match=r"Cannot build base image .*: debootstrap needs root\. Fix: run"):
        run(driver, tmp_path, source=None)
    assert driver.rootfs_dirs == []
    assert list(tmp_path.iterdir()) == []


def test_the_result_is_frozen() -> None:
    """BaseImageResult is a value."""
    result = BaseImageResult(NAME, "kept", OLD_ID, 0.1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.how = "built"  # type: ignore[misc]


def test_debootstrap_spec_argv() -> None:
    """The command line of the verified recipe."""
    argv = DebootstrapSpec().argv("/usr/sbin/debootstrap", Path("/scratch/rootfs"))
    assert argv == [
        "/usr/sbin/debootstrap",
        "--variant=minbase",
        "--include=python3,ca-certificates,curl",
        "bookworm",
        "/scratch/rootfs",
        "http://deb.debian.org/debian",
    ]


# --- the real driver, with stand-in tools instead of Docker and root --------------------------


def _script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_real_driver_refuses_debootstrap_without_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fix says to run as root."""
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setattr(images, "_find_debootstrap", lambda: "/usr/sbin/debootstrap")
    with pytest.raises(ImageError, match=r"needs root .* uid 1000\. Fix: run `athalia images bootstrap` as root"):
        DockerImageDriver(client=object()).prepare_debootstrap()


def test_real_driver_without_debootstrap_or_root_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fix names the apt-get command."""
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setattr(images, "_find_debootstrap", lambda: None)
    with pytest.raises(ImageError, match=r"not installed.*`sudo apt-get install -y debootstrap`"):
        DockerImageDriver(client=object()).prepare_debootstrap()


def test_real_driver_reports_debootstraps_last_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failing debootstrap: exit status, its last output and its log (about to be deleted)."""
    rootfs = tmp_path / "rootfs"
    fake = _script(
        tmp_path / "debootstrap",
        f"mkdir -p {rootfs}/debootstrap\n"
        f'echo "dpkg: error processing x" > {rootfs}/debootstrap/debootstrap.log\n'
        'echo "I: Retrieving InRelease"\necho "E: Failed getting release file" >&2\nexit 1\n',
    )
    monkeypatch.setattr(images, "_find_debootstrap", lambda: str(fake))
    with pytest.raises(ImageError) as caught:
        DockerImageDriver(client=object()).debootstrap(DebootstrapSpec(mirror="http://m.example/d"), rootfs)
    message = str(caught.value)
    assert "failed with exit status 1 after" in message
    assert "Last output: I: Retrieving InRelease / E: Failed getting release file / debootstrap.log: dpkg" in message
    assert message.endswith(
        "Fix: check that http://m.example/d is reachable from this host and has the suite bookworm."
    )


def test_real_driver_streams_the_rootfs_into_docker_import(tmp_path: Path) -> None:
    """tar is piped into `docker import --change ... -`, whose stdout is the image id."""
    rootfs = tmp_path / "rootfs"
    (rootfs / "etc").mkdir(parents=True)
    (rootfs / "etc/os-release").write_text("bookworm")
    seen = tmp_path / "seen"
    fake_docker = _script(
        tmp_path / "docker",
        f'printf "%s\\n" "$@" > {seen}.args\ncat > {seen}.tar\necho sha256:{"c" * 64}\n',
    )
    image = DockerImageDriver(client=object(), docker_cli=str(fake_docker)).import_rootfs(rootfs, images.IMPORT_CHANGES)
    assert image == "sha256:" + "c" * 64
    assert Path(f"{seen}.args").read_text().splitlines() == [
        "import",
        "--change",
        'CMD ["/bin/bash"]',
        "--change",
        "ENV LANG=C.UTF-8",
        "-",
    ]
    with tarfile.open(f"{seen}.tar") as tar:
        assert "./etc/os-release" in tar.getnames()


def test_real_driver_reports_a_failed_docker_import(tmp_path: Path) -> None:
    """docker's stderr and the fix reach the message."""
    (tmp_path / "rootfs").mkdir()
    fake_docker = _script(tmp_path / "docker", 'echo "Cannot connect to the Docker daemon" >&2\nexit 1\n')
    with pytest.raises(ImageError) as caught:
        DockerImageDriver(client=object(), docker_cli=str(fake_docker)).import_rootfs(tmp_path / "rootfs", ())
    message = str(caught.value)
    assert "failed with exit status 1. Last output: Cannot connect to the Docker daemon" in message
    assert "Fix: check that the docker CLI" in message


def test_real_driver_names_a_missing_tool(tmp_path: Path) -> None:
    """A docker CLI that is not there is an ImageError, not an OSError."""
    (tmp_path / "rootfs").mkdir()
    driver = DockerImageDriver(client=object(), docker_cli=str(tmp_path / "no-docker"))
    with pytest.raises(ImageError, match=r"Cannot run `.*no-docker`.*Fix: install it"):
        driver.import_rootfs(tmp_path / "rootfs", ())


@pytest.mark.parametrize(
    ("explanation", "reason"),
    [
        (
            'Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io: no such host',
            'no registry: Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io: no such host',
        ),
        ("manifest for debian:nope not found", "manifest for debian:nope not found"),
    ],
)
def test_pull_failures_are_named(explanation: str, reason: str) -> None:
    """Registry outages read 'no registry: ...'; other answers pass unchanged."""
    assert images._docker_reason(docker.errors.APIError("500", explanation=explanation)) == reason


@pytest.mark.parametrize(
    ("reference", "split"),
    [
        ("debian:bookworm-slim", ("debian", "bookworm-slim")),
        ("athalia/base", ("athalia/base", "latest")),
        ("localhost:5000/athalia/base:v1", ("localhost:5000/athalia/base", "v1")),
    ],
)
def test_split_reference(reference: str, split: tuple[str, str]) -> None:
    """Registry ports are not tags; a missing tag is latest."""
    assert images._split_reference(reference) == split


def test_real_driver_names_a_killing_signal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A debootstrap killed from outside is reported as such, not as exit status -9."""
    fake = _script(tmp_path / "debootstrap", 'echo "I: Installing core packages..."\nkill -9 $$\n')
    monkeypatch.setattr(images, "_find_debootstrap", lambda: str(fake))
    with pytest.raises(ImageError, match=r"was killed by signal 9 after .*Installing core packages"):
        DockerImageDriver(client=object()).debootstrap(DebootstrapSpec(), tmp_path / "rootfs")
