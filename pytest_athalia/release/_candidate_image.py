"""Is the candidate's image there? Checked before the stack starts, so a typo costs seconds, not a stack start.

An image is usable when Docker has it locally (``docker image inspect``) or a registry lists it
(``docker manifest inspect``, bounded). :class:`ImageLookup` is the driver; :class:`DockerImageLookup`
the real one and :class:`FakeImageLookup` the fake. :func:`candidate_image_problem` is the verdict.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol, final, runtime_checkable

from .._errors import AthaliaError, StackTimeout
from .._process import run_command
from ._release import Candidate

__all__ = ["DockerImageLookup", "FakeImageLookup", "ImageLookup", "candidate_image_problem"]

PULL_CHECK_TIMEOUT = 15.0  # seconds for a registry to say whether it has the image


@runtime_checkable
class ImageLookup(Protocol):
    def present(self, image: str) -> bool:
        """Whether Docker has `image` locally."""
        ...

    def pullable(self, image: str, *, timeout: float) -> tuple[bool | None, str]:
        """Whether a registry has `image` (None: could not tell within `timeout`), and what it said."""
        ...


@final
class DockerImageLookup:
    """Asks the Docker CLI: ``docker image inspect`` and ``docker manifest inspect``."""

    def __init__(self, docker: str = "docker") -> None:
        self._docker = docker

    def present(self, image: str) -> bool:
        try:
            result = self._run(["image", "inspect", "--format", "{{.Id}}", image], timeout=30)
        except AthaliaError:
            return False
        return result[0] == 0

    def pullable(self, image: str, *, timeout: float) -> tuple[bool | None, str]:
        try:
            code, output = self._run(["manifest", "inspect", image], timeout=timeout)
        except StackTimeout:
            return None, f"the registry did not answer within {timeout:g} s"
        except AthaliaError as exc:
            return None, str(exc)
        last = output.strip().splitlines()[-1] if output.strip() else f"exit {code}"
        if code == 0:
            return True, last
        # Only a registry that answered "no such image" proves it missing; a network error proves nothing.
        missing = any(word in output.lower() for word in ("no such manifest", "manifest unknown", "not found"))
        return (False if missing else None), last

    def _run(self, args: list[str], *, timeout: float) -> tuple[int, str]:
        result = run_command(
            [self._docker, *args], timeout=timeout, check=False, max_lines=20, what=f"docker {args[0]} {args[1]}"
        )
        return result.returncode, result.output


@dataclass
class FakeImageLookup:
    """Images in `local` are present, those in `registry` pullable; `unreachable`: the registry never answers."""

    local: set[str] = field(default_factory=set)
    registry: set[str] = field(default_factory=set)
    unreachable: bool = False
    asked: list[str] = field(default_factory=list)

    def present(self, image: str) -> bool:
        self.asked.append(f"present {image}")
        return image in self.local

    def pullable(self, image: str, *, timeout: float) -> tuple[bool | None, str]:
        self.asked.append(f"pullable {image}")
        if self.unreachable:
            return None, "the registry did not answer"
        return (True, "found") if image in self.registry else (False, "no such manifest")


def candidate_image_problem(
    candidates: Iterable[Candidate], lookup: ImageLookup, *, timeout: float = PULL_CHECK_TIMEOUT
) -> str | None:
    """One paragraph per candidate whose image is neither local nor pullable (None: all usable).

    A candidate without an image (the service's own) needs nothing. A registry that cannot be asked
    is no proof: the image is refused (fail closed), with what the registry said.
    """
    problems = []
    seen: set[str] = set()
    for candidate in candidates:
        image = candidate.image
        if image is None or image in seen:
            continue
        seen.add(image)
        if lookup.present(image):
            continue
        pullable, said = lookup.pullable(image, timeout=timeout)
        if pullable:
            continue
        source = candidate.image_source or candidate.name
        problems.append(
            f"athalia: the candidate image {image!r} (from {source}) is not present locally and "
            f"{'cannot be pulled' if pullable is False else 'could not be confirmed pullable'} "
            f"(docker manifest inspect: {said}). Nothing was started. Fix: build or pull it "
            f"(docker build -t {image} ..., or docker pull {image}), or set {source} to an image that exists."
        )
    return "\n".join(problems) or None
