"""The Docker resources cleanup works on: a small driver interface, its docker SDK implementation, and a fake.

Values at the boundary: docker's rows become :class:`Resource` and :class:`Image` right away, with
their owner labels parsed (:mod:`._ownership`). :class:`FakeDockerResources` keeps docker's in-use
rules, so tests of the removal order mean something.
"""

from __future__ import annotations

import gc
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol, final

import docker  # type: ignore[import-untyped, unused-ignore]
import requests

from .._errors import DockerUnavailable
from ._ownership import ENV_LABEL, RunOwner, owner_from_labels

__all__ = [
    "IMAGE_LABEL",
    "PROJECT_LABEL",
    "DockerResources",
    "FakeDockerResources",
    "Image",
    "Kind",
    "Resource",
    "ResourceDriver",
]

PROJECT_LABEL = "com.docker.compose.project"
IMAGE_LABEL = "dev.athalia.image"  # on images we build: the stable tag they were built as
# On images we build under a name the compose file gives (`image:` beside `build:`): the name is
# the user's, so only older builds that lost it are ours to remove, never the named image.
NAMED_LABEL = "dev.athalia.image.named"


class Kind(StrEnum):
    """The three kinds of resources compose creates for a project, in removal order."""

    CONTAINER = "container"
    NETWORK = "network"
    VOLUME = "volume"


@dataclass(frozen=True)
class Resource:
    """One labelled container, network or volume, as docker lists it."""

    kind: Kind
    ref: str  # what removal takes: the container or network id, the volume name
    name: str
    project: str
    owner: RunOwner | None = None  # from its owner labels
    image: str = ""  # a container's image id


@dataclass(frozen=True)
class Image:
    """An image we built: `built_as` is its stable tag; an older build has lost that tag (`tags` empty)."""

    ref: str  # the image id
    tags: tuple[str, ...]
    built_as: str
    env: str = ""
    owner: RunOwner | None = None  # the run that built it
    named: bool = False  # built as a name from the user's compose file (NAMED_LABEL)

    @property
    def untagged(self) -> bool:
        return not self.tags

    @property
    def removal_ref(self) -> str:
        """What to remove: our tag (other tags someone added stay), or the id of an untagged build."""
        return self.built_as if self.built_as in self.tags else self.ref

    def describe(self) -> str:
        short = self.ref.removeprefix("sha256:")[:12]
        return f"image {self.built_as} ({short})" if self.tags else f"image {short} (an older build of {self.built_as})"


# --- the driver ----------------------------------------------------------------------------


class ResourceDriver(Protocol):
    """The few docker operations cleanup needs. Removal of a missing resource is success."""

    def list_labelled(self, kind: Kind, project: str | None = None) -> Sequence[Resource]:
        """Resources of `kind` with the compose project label, equal to `project` if given."""
        ...

    def remove_container(self, ref: str) -> str | None:
        """Force-remove a container with its anonymous volumes; None if gone, else why not."""
        ...

    def remove_network(self, ref: str) -> str | None:
        """Remove a network; None if gone, else why not (e.g. it still has endpoints)."""
        ...

    def remove_volume(self, ref: str) -> str | None:
        """Remove a volume; None if gone, else why not (e.g. it is in use)."""
        ...

    def list_images(self) -> Sequence[Image]:
        """Images labelled :data:`IMAGE_LABEL`, untagged ones included."""
        ...

    def remove_image(self, ref: str) -> str | None:
        """Remove a tag, or an image by id, never forced; None if gone, else why not (a container uses it)."""
        ...


_DOCKER_HINT = "Start the Docker daemon (or set DOCKER_HOST), check `docker info`, then run again."


@final
class DockerResources:
    """ResourceDriver over the docker SDK's low-level API: one request per call, no inspects."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._api = client.api

    def close(self) -> None:
        """Close the client's connections."""
        self._client.close()

    @classmethod
    def from_env(cls) -> DockerResources:
        """Connect as the docker CLI would (DOCKER_HOST, ...), or raise DockerUnavailable."""
        try:
            return cls(docker.from_env())
        except (docker.errors.DockerException, requests.RequestException) as exc:
            problem = str(exc)
        _drop_failed_sockets()
        raise DockerUnavailable(f"athalia: cannot reach the Docker daemon ({problem}). {_DOCKER_HINT}")

    def list_labelled(self, kind: Kind, project: str | None = None) -> Sequence[Resource]:
        label = PROJECT_LABEL if project is None else f"{PROJECT_LABEL}={project}"
        filters = {"label": [label]}
        try:
            if kind is Kind.CONTAINER:
                rows = self._api.containers(all=True, filters=filters)
                return [
                    _resource(kind, row["Id"], (row.get("Names") or [row["Id"]])[0].lstrip("/"), row) for row in rows
                ]
            if kind is Kind.NETWORK:
                return [_resource(kind, row["Id"], row["Name"], row) for row in self._api.networks(filters=filters)]
            rows = self._api.volumes(filters=filters).get("Volumes") or []
            return [_resource(kind, row["Name"], row["Name"], row) for row in rows]
        except (docker.errors.DockerException, requests.RequestException) as exc:
            problem = str(exc)
        _drop_failed_sockets()
        raise DockerUnavailable(f"athalia: listing {kind}s labelled {label} failed: {problem}. {_DOCKER_HINT}")

    def remove_container(self, ref: str) -> str | None:
        return self._remove(self._api.remove_container, ref, v=True, force=True)

    def remove_network(self, ref: str) -> str | None:
        return self._remove(self._api.remove_network, ref)

    def remove_volume(self, ref: str) -> str | None:
        return self._remove(self._api.remove_volume, ref)

    def list_images(self) -> Sequence[Image]:
        try:
            rows = self._api.images(filters={"label": [IMAGE_LABEL]})
        except (docker.errors.DockerException, requests.RequestException) as exc:
            problem = str(exc)
        else:
            return [_image(row) for row in rows]
        _drop_failed_sockets()
        raise DockerUnavailable(f"athalia: listing images labelled {IMAGE_LABEL} failed: {problem}. {_DOCKER_HINT}")

    def remove_image(self, ref: str) -> str | None:
        return self._remove(self._api.remove_image, ref, force=False)

    @staticmethod
    def _remove(call: Callable[..., object], ref: str, **kwargs: object) -> str | None:
        try:
            call(ref, **kwargs)
        except docker.errors.NotFound:
            return None
        except docker.errors.APIError as exc:
            reason = str(exc.explanation or exc)
            # "removal of container ... is already in progress": someone else is removing it.
            if exc.status_code == 409 and "in progress" in reason:
                return None
            return reason
        except requests.RequestException as exc:
            problem = str(exc)
        else:
            return None
        _drop_failed_sockets()
        raise DockerUnavailable(f"athalia: removing {ref} failed: {problem}. {_DOCKER_HINT}")


def _drop_failed_sockets() -> None:
    # docker-py leaks the socket of a failed connection; its ResourceWarning would surface
    # later, in whatever test runs a garbage collection (an error under filterwarnings=error).
    # Call this after the except block, once nothing references the failed traceback.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


def _resource(kind: Kind, ref: object, name: object, row: dict[str, Any]) -> Resource:
    labels = row.get("Labels") or {}
    return Resource(
        kind,
        str(ref),
        str(name),
        str(labels.get(PROJECT_LABEL, "")),
        owner_from_labels(labels),
        str(row.get("ImageID") or ""),
    )


def _image(row: dict[str, Any]) -> Image:
    labels = row.get("Labels") or {}
    tags = tuple(str(tag) for tag in row.get("RepoTags") or () if tag != "<none>:<none>")
    return Image(
        str(row["Id"]),
        tags,
        str(labels.get(IMAGE_LABEL, "")),
        str(labels.get(ENV_LABEL, "")),
        owner_from_labels(labels),
        labels.get(NAMED_LABEL) == "true",
    )


class FakeDockerResources:
    """An in-memory ResourceDriver for tests, with docker's in-use rules; subclass it to script races.

    A network or volume used by a container cannot be removed until the container is gone, nor an
    image a container was created from: removing in the wrong order fails, as it does with docker.
    """

    def __init__(self) -> None:
        self._items: dict[str, Resource] = {}
        self._uses: dict[str, frozenset[str]] = {}
        self._stuck: dict[str, str] = {}
        self._images: dict[str, Image] = {}
        self.calls: list[tuple[str, str]] = []  # ("remove_container", name), in call order

    def add(
        self,
        kind: Kind,
        name: str,
        project: str,
        *,
        uses: Iterable[str] = (),
        owner: RunOwner | None = None,
        image: str = "",
    ) -> Resource:
        """Create a resource; a container may use networks and volumes by name, and an image by id."""
        resource = Resource(kind, name, name, project, owner, image)
        self._items[name] = resource
        if kind is Kind.CONTAINER:
            self._uses[name] = frozenset(uses)
        return resource

    def add_project(self, project: str, containers: int = 1, *, owner: RunOwner | None = None, image: str = "") -> None:
        """A compose-like project: a default network, a volume, containers using both (and `image`)."""
        network, volume = f"{project}_default", f"{project}_data"
        self.add(Kind.NETWORK, network, project, owner=owner)
        self.add(Kind.VOLUME, volume, project, owner=owner)
        for index in range(1, containers + 1):
            self.add(
                Kind.CONTAINER, f"{project}-app-{index}", project, uses=(network, volume), owner=owner, image=image
            )

    def add_image(
        self,
        ref: str,
        built_as: str,
        *,
        tagged: bool = True,
        env: str = "",
        owner: RunOwner | None = None,
        named: bool = False,
    ) -> Image:
        """An image we built; untagged: an older build whose tag a newer build took; named: the user's name."""
        image = Image(ref, (built_as,) if tagged else (), built_as, env, owner, named)
        self._images[ref] = image
        return image

    def close(self) -> None:
        """Nothing to close; here so the fake stands in for DockerResources in the CLI."""

    def make_stuck(self, name: str, reason: str = "device or resource busy") -> None:
        """Make every removal of `name` fail with `reason`."""
        self._stuck[name] = reason

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._items)

    @property
    def image_refs(self) -> tuple[str, ...]:
        return tuple(self._images)

    def list_labelled(self, kind: Kind, project: str | None = None) -> Sequence[Resource]:
        return [
            item
            for item in self._items.values()
            if item.kind is kind and (item.project == project if project is not None else bool(item.project))
        ]

    def remove_container(self, ref: str) -> str | None:
        return self._remove("remove_container", Kind.CONTAINER, ref)

    def remove_network(self, ref: str) -> str | None:
        return self._remove("remove_network", Kind.NETWORK, ref)

    def remove_volume(self, ref: str) -> str | None:
        return self._remove("remove_volume", Kind.VOLUME, ref)

    def list_images(self) -> Sequence[Image]:
        return list(self._images.values())

    def remove_image(self, ref: str) -> str | None:
        self.calls.append(("remove_image", ref))
        image = self._images.get(ref) or next((i for i in self._images.values() if ref in i.tags), None)
        if image is None:
            return None
        users = sorted(name for name, item in self._items.items() if item.image == image.ref)
        if users:
            return f"conflict: unable to remove {ref}: image is being used by container {users[0]}"
        del self._images[image.ref]
        return None

    def _remove(self, call: str, kind: Kind, ref: str) -> str | None:
        self.calls.append((call, ref))
        item = self._items.get(ref)
        if item is None or item.kind is not kind:
            return None
        if ref in self._stuck:
            return self._stuck[ref]
        users = sorted(name for name, used in self._uses.items() if ref in used and name in self._items)
        if users:
            return f"{kind} {ref} is in use by {', '.join(users)}"
        del self._items[ref]
        self._uses.pop(ref, None)
        return None
