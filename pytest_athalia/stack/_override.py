"""What the plugin adds to a compose stack: generated override files, and the router image.

The user's compose files stay unchanged; compose merges more ``-f`` files.

Every run merges :func:`run_override` (``athalia.yml``): the owner labels of
:mod:`pytest_athalia.stack._ownership` on every service, network and volume, and, for a service with
``build:`` and no ``image:``, a stable tag per project directory, service and environment
(:func:`build_tag`) with the owner labels and :data:`~pytest_athalia.stack._cleanup.IMAGE_LABEL` on the
built image. Without it compose tags ``<project>-<service>``, a new name every run.

With ``rollout.enabled`` a second file (``rollout.yml``) puts the router in the service's place::

    other services ─┐                     ┌─→ <service>-blue   (the user's definition)
    host port ──────┼─→ <service> (HAProxy)
    the probe ──────┘                     └─→ <service>-green  (the same, scale 0 until deployed)

- ``<service>``: keeps its name, networks, aliases and what it published for ``stack.port``, but runs
  HAProxy (``!reset`` on every other key of the user's definition), listening on ``stack.port``, its
  configuration inline (``configs.content``); runtime API 9999 (``level admin``) and monitor and
  Prometheus exporter 8405 published on 127.0.0.1 only;
- ``<service>-blue`` and ``<service>-green``: the user's definition as compose resolves it (not
  interpolated, so secrets stay ``${...}`` references), without ``container_name``, aliases or fixed
  host ports, publishing only ``127.0.0.1::<port>`` (for the smoke test). Green reuses blue's image and
  stays at ``scale: 0`` until :meth:`ComposeStack.deploy_color` starts it.

Weights start at blue=100, green=0: green has no container yet, and the rollout raises the
candidate's weight before it lowers the old one's, so both are never 0 at once.

With ``rollout.canary.metrics: prometheus`` the file also adds ``athalia-prometheus``
(:data:`PROMETHEUS_SERVICE`): Debian's Prometheus scraping the router's exporter
(``<service>:8405/metrics``) every second, its configuration inline too, its API published on
127.0.0.1 with an ephemeral port, labelled with the run's labels so the run's cleanup finds it.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Final

import yaml

from .._errors import AthaliaError, StackError
from .._process import run_command
from ..images._bootstrap import DEFAULT_PULL_SOURCE
from ..release import _faults as faults
from ..release._router import COLOR_HEADER, COLORS, INITIAL_WEIGHTS, Color
from ._cleanup import IMAGE_LABEL, DockerResources, env_slug, generated_root, remove_old_builds, write_owner_file
from ._ownership import ENV_LABEL, OWNER_LABELS, RunOwner, this_run
from ._ports import PortsMode, private_ports
from ._resources import NAMED_LABEL

__all__ = [
    "API_PORT",
    "BACKEND",
    "MONITOR_PORT",
    "PROMETHEUS_PORT",
    "PROMETHEUS_SERVICE",
    "Override",
    "OverrideFiles",
    "Reset",
    "RouterPlan",
    "RunOverride",
    "build_tag",
    "color_service",
    "compose_override",
    "compose_too_old",
    "deploy_override",
    "haproxy_config",
    "prometheus_config",
    "prometheus_dockerfile_dir",
    "prometheus_recipe",
    "router_build_command",
    "router_dockerfile_dir",
    "router_image_present",
    "router_recipe",
    "run_labels",
    "run_override",
]

BACKEND: Final = "colors"
API_PORT: Final = 9999
MONITOR_PORT: Final = 8405
MONITOR_URI: Final = "/healthz"
CONFIG_PATH: Final = "/etc/athalia/haproxy.cfg"
CONFIG_NAME: Final = "athalia-router-cfg"
DEPLOY_ENV_PREFIX: Final = "ATHALIA_DEPLOY_ENV_"
RECIPE_LABEL: Final = "dev.athalia.router.recipe"  # on every image built from our assets (router, Prometheus)
METRICS_PATH: Final = "/metrics"  # HAProxy's built-in Prometheus exporter, on MONITOR_PORT

PROMETHEUS_SERVICE: Final = "athalia-prometheus"
PROMETHEUS_PORT: Final = 9090
PROMETHEUS_CONFIG_PATH: Final = "/etc/athalia/prometheus.yml"
PROMETHEUS_CONFIG_NAME: Final = "athalia-prometheus-cfg"
PROMETHEUS_DATA: Final = "/var/lib/athalia-prometheus"  # made by our Dockerfile, owned by its user
SCRAPE_INTERVAL_S: Final = 1

# configs.content (the router's configuration inline, no file on the host) came with compose 2.23.1.
MIN_COMPOSE: Final = (2, 23, 1)

COLOR_LABEL: Final = "dev.athalia.color"
ROLE_LABEL: Final = "dev.athalia.role"
# Keys of the user's definition that would tie a color to the service's identity (now the router's).
_COLOR_DROPS: Final = frozenset({"container_name", "hostname", "profiles", "scale", "ports"})
# Keys of the user's definition the router keeps: how other services find it, and where it logs.
_ROUTER_KEEPS: Final = frozenset(
    {"networks", "container_name", "profiles", "labels", "logging", "extra_hosts", "dns", "dns_opt", "dns_search"}
)


def compose_too_old(version: str) -> str | None:
    """Why compose `version` (e.g. "2.26.1-4") cannot run the override, or None when it can."""
    parts = []
    for part in version.lstrip("v").split(".")[:3]:
        digits = "".join(ch for ch in part.split("-")[0].split("+")[0] if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    if tuple(parts) >= MIN_COMPOSE:
        return None
    need = ".".join(map(str, MIN_COMPOSE))
    return (
        f"athalia: rollout.enabled needs docker compose {need} or newer (the router's configuration is an "
        f"inline `configs.content`), found {version}. Install a newer compose v2 "
        "(bash scripts/install-compose-v2.sh), or set rollout.enabled: false."
    )


def color_service(service: str, color: Color) -> str:
    """The compose service of a color: ``<service>-blue`` or ``<service>-green``; `service` itself is the router."""
    return f"{service}-{color}"


@dataclass(frozen=True)
class RouterPlan:
    """What the override needs to know: the service under deployment and the router to put in front."""

    project: str
    service: str
    port: int
    health_path: str
    router_image: str
    start_period_s: float  # how long the router may wait for blue to turn UP (the startup SLO)
    prometheus_image: str | None = None  # rollout.canary.metrics: prometheus; None adds no Prometheus


# --------------------------------------------------------------------------- HAProxy configuration


def haproxy_config(service: str, port: int, health_path: str) -> str:
    """HAProxy 2.6 configuration of the router: clients on `port`, a backend of the two colors, runtime API, monitor."""
    blue, green = (color_service(service, color) for color in COLORS)
    # Docker's DNS answers for the service names; `none` lets HAProxy start while green has no
    # container, and the resolver finds a recreated container (new address) within a second.
    return f"""\
# Generated by pytest-athalia for the rollout of service {service}; see pytest_athalia/stack/_override.py.
global
    log stdout format raw local0 notice
    stats socket ipv4@0.0.0.0:{API_PORT} level admin
    stats timeout 30s
    # SIGUSR1 (the container's stop signal) stops softly; open keep-alive connections get 2 s.
    hard-stop-after 2s
{faults.global_lines()}
resolvers docker
    nameserver dns 127.0.0.11:53
    resolve_retries 3
    timeout resolve 1s
    timeout retry 500ms
    hold valid 1s
    hold other 1s
    hold refused 1s
    hold nx 1s
    hold timeout 1s
    hold obsolete 1s

defaults
    mode http
    log global
    timeout connect 1s
    timeout client 60s
    timeout server 60s
    timeout http-request 10s
    timeout http-keep-alive 10s
    timeout queue 5s
    timeout check 2s
    # A connection refused by a color being replaced is retried on the other one: no lost request.
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response junk-response
    default-server init-addr libc,none resolvers docker check inter 1s fastinter 250ms downinter 500ms rise 1 fall 2

frontend athalia_clients
    bind :{port}
    default_backend {BACKEND}

backend {BACKEND}
    balance roundrobin
    # Replaying a request that reached a server is safe only for methods without side effects.
    http-request disable-l7-retry unless METH_GET || METH_HEAD || METH_OPTIONS
    option httpchk
    http-check send meth GET uri {health_path} ver HTTP/1.1 hdr Host localhost
    http-check expect rstatus ^[23]
{faults.backend_lines()}    http-response set-header {COLOR_HEADER} %[srv_name]
    server {COLORS[0]} {blue}:{port} weight {INITIAL_WEIGHTS[COLORS[0]]}
    server {COLORS[1]} {green}:{port} weight {INITIAL_WEIGHTS[COLORS[1]]}

frontend athalia_monitor
    bind :{MONITOR_PORT}
    monitor-uri {MONITOR_URI}
    monitor fail if {{ nbsrv({BACKEND}) lt 1 }}
    http-request use-service prometheus-exporter if {{ path /metrics }}
    stats enable
    stats uri /stats
"""


def prometheus_config(service: str) -> str:
    """Prometheus' configuration: the router's exporter (``<service>:8405/metrics``) scraped every second.

    ``scope=server`` asks HAProxy for the per-server series only: the canary reads nothing else,
    and a smaller answer keeps each scrape well inside its one second.
    """
    return f"""\
# Generated by pytest-athalia for the canary of service {service}; see pytest_athalia/stack/_override.py.
global:
  scrape_interval: {SCRAPE_INTERVAL_S}s
  scrape_timeout: {SCRAPE_INTERVAL_S}s
scrape_configs:
  - job_name: athalia-router
    metrics_path: {METRICS_PATH}
    params:
      scope: [server]
    static_configs:
      - targets: ["{service}:{MONITOR_PORT}"]
"""


# --------------------------------------------------------------------------- the override file


def compose_override(model: Mapping[str, Any], plan: RouterPlan) -> dict[str, Any]:
    """The override for `plan`, from `model`: ``docker compose config --no-interpolate --format json``.

    The service under deployment keeps its name, networks, aliases and published port, but runs the
    router; the user's definition runs as ``<service>-blue`` and ``<service>-green``. So the other
    services, which call it by name, the host ports it publishes, and the probe all go through the
    router. Raises StackError when the service is missing, cannot get two colors, or a name is taken.
    """
    services = model.get("services")
    services = services if isinstance(services, Mapping) else {}
    user = services.get(plan.service)
    if not isinstance(user, Mapping):
        raise StackError(
            f"athalia: stack.service is {plan.service!r}, but the compose files define no such service "
            f"(they define: {', '.join(sorted(services)) or 'none'}). Set stack.service to the service under "
            "deployment."
        )
    for taken in (color_service(plan.service, color) for color in COLORS):
        if taken in services:
            raise StackError(
                f"athalia: the compose files already define a service {taken!r}, a name the rollout adds "
                f"(rollout.enabled). Rename that service, or set rollout.enabled: false."
            )
    if plan.port in (API_PORT, MONITOR_PORT):
        raise StackError(
            f"athalia: stack.port is {plan.port}, a port the rollout's router keeps for itself (runtime API "
            f"{API_PORT}, monitor {MONITOR_PORT}). Serve the app on another port, or set rollout.enabled: false."
        )
    mode = str(user.get("network_mode") or "")
    if mode and not mode.startswith("bridge"):
        raise StackError(
            f"athalia: service {plan.service!r} uses network_mode {mode!r}; the rollout's router takes the "
            "service's name on the project's networks. Remove network_mode from that service, or set "
            "rollout.enabled: false."
        )
    data: dict[str, Any] = {
        "services": {
            plan.service: _router(user, plan),
            color_service(plan.service, COLORS[0]): _color(user, plan, model, COLORS[0]),
            color_service(plan.service, COLORS[1]): _color(user, plan, model, COLORS[1]),
        },
        "configs": {
            CONFIG_NAME: {"content": _escape(haproxy_config(plan.service, plan.port, plan.health_path))},
            faults.LUA_CONFIG_NAME: {"content": _escape(faults.lua_script(BACKEND))},  # drills: release/_faults.py
        },
    }
    if plan.prometheus_image is not None:
        if PROMETHEUS_SERVICE in services:
            raise StackError(
                f"athalia: the compose files already define a service {PROMETHEUS_SERVICE!r}, a name the canary "
                "adds for its Prometheus (rollout.canary.metrics: prometheus). Rename that service, or set "
                "rollout.canary.metrics: haproxy."
            )
        data["services"][PROMETHEUS_SERVICE] = _prometheus(user, plan.service, plan.prometheus_image)
        data["configs"][PROMETHEUS_CONFIG_NAME] = {"content": _escape(prometheus_config(plan.service))}
    return data


def _prometheus(user: Mapping[str, Any], service: str, image: str) -> dict[str, Any]:
    """Prometheus beside the router: on the router's networks, published on 127.0.0.1 only, with the run's labels."""
    ready = (
        f"exec 3<>/dev/tcp/127.0.0.1/{PROMETHEUS_PORT} && printf 'GET /-/ready HTTP/1.0\\r\\n\\r\\n' >&3 && "
        'read -r _ code _ <&3 && [ "$$code" = 200 ]'
    )
    # The run's labels as run_override put them on the service: this service is not in the user's
    # model, so athalia.yml does not label it, and the run's cleanup finds containers by them.
    labels = {key: value for key, value in _labels(user.get("labels")).items() if key in (*OWNER_LABELS, ENV_LABEL)}
    definition: dict[str, Any] = {
        "image": image,
        "entrypoint": ["prometheus"],
        "command": [
            f"--config.file={PROMETHEUS_CONFIG_PATH}",
            f"--storage.tsdb.path={PROMETHEUS_DATA}",
            f"--web.listen-address=:{PROMETHEUS_PORT}",
            "--log.level=warn",
        ],
        "configs": [{"source": PROMETHEUS_CONFIG_NAME, "target": PROMETHEUS_CONFIG_PATH}],
        "ports": [{"target": PROMETHEUS_PORT, "host_ip": "127.0.0.1", "protocol": "tcp"}],
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges:true"],
        "labels": {**labels, ROLE_LABEL: "metrics"},
        "depends_on": {service: {"condition": "service_started"}},
        "healthcheck": {
            "test": ["CMD", "bash", "-c", ready],
            "interval": "1s",
            "timeout": "2s",
            "retries": 3,
            "start_period": "30s",
        },
    }
    networks = user.get("networks")
    if isinstance(networks, Mapping) or (isinstance(networks, Sequence) and not isinstance(networks, str)):
        # Where the router is: the service's networks (without its aliases, which are the router's).
        definition["networks"] = {str(name): None for name in networks}
    return definition


def _color(user: Mapping[str, Any], plan: RouterPlan, model: Mapping[str, Any], color: Color) -> dict[str, Any]:
    """The user's definition of the service, as one color: no fixed name, address or host port."""
    definition = {key: value for key, value in user.items() if key not in _COLOR_DROPS}
    if color == COLORS[1]:
        # Green runs what blue runs, built once (compose names an unnamed image project-service).
        definition.pop("build", None)
        definition.pop("pull_policy", None)
        if "build" in user:
            definition["image"] = user.get("image") or f"{model.get('name') or plan.project}-{plan.service}"
        definition["scale"] = 0  # started by deploy_color("green")
    deploy = definition.get("deploy")
    if isinstance(deploy, Mapping) and "replicas" in deploy:
        definition["deploy"] = {key: value for key, value in deploy.items() if key != "replicas"}
    networks = user.get("networks")
    if isinstance(networks, Mapping):
        # Not the service's aliases or fixed addresses: they belong to the router now.
        definition["networks"] = {name: None for name in networks}
    # Reached directly only by the smoke test and the health poller, on 127.0.0.1.
    definition["ports"] = [{"target": plan.port, "host_ip": "127.0.0.1", "protocol": "tcp"}]
    definition["labels"] = {**_labels(user.get("labels")), COLOR_LABEL: color}
    return definition


def _router(user: Mapping[str, Any], plan: RouterPlan) -> dict[str, Any]:
    """The service's own name, running HAProxy: every other key of the user's definition is reset."""
    # Healthy once a color passed a real check: HAProxy starts servers UP before checking them.
    probe = (
        f"exec 3<>/dev/tcp/127.0.0.1/{API_PORT} && printf 'show stat {BACKEND} 4 -1\\n' >&3 && "
        "while IFS= read -r line <&3; do [[ $$line == *,UP,*,L7OK,* ]] && exit 0; done; exit 1"
    )
    router: dict[str, Any] = {key: Reset() for key in user if key not in _ROUTER_KEEPS}
    router.update(
        {
            "image": plan.router_image,
            # haproxy on PATH in our image and in the official one; their entrypoints differ.
            "entrypoint": ["haproxy"],
            "command": ["-db", "-f", CONFIG_PATH],
            "stop_signal": "SIGUSR1",  # HAProxy as PID 1 without master mode ignores SIGTERM
            "configs": Override(
                [
                    {"source": CONFIG_NAME, "target": CONFIG_PATH},
                    {"source": faults.LUA_CONFIG_NAME, "target": faults.LUA_PATH},  # drills: release/_faults.py
                ]
            ),
            "ports": Override(_router_ports(user, plan.port)),
            "cap_drop": Override(["ALL"]),
            "security_opt": Override(["no-new-privileges:true"]),
            # The user's labels (a proxy may route by them) with the run's owner labels (run_override).
            "labels": Override({**_labels(user.get("labels")), ROLE_LABEL: "router"}),
            # Blue first: the router's health check waits for it.
            "depends_on": Override({color_service(plan.service, COLORS[0]): {"condition": "service_started"}}),
            # `up --wait` returns once traffic can flow to blue.
            "healthcheck": Override(
                {
                    "test": ["CMD", "bash", "-c", probe],
                    "interval": "1s",
                    "timeout": "2s",
                    "retries": 3,
                    "start_period": f"{max(1, int(plan.start_period_s))}s",
                }
            ),
        }
    )
    return router


def _router_ports(user: Mapping[str, Any], port: int) -> list[Any]:
    """What the service published for `port` (the router listens there now), and the router's own ports.

    Ports the service published for other targets are dropped: the router relays `port` only.
    """
    published = [entry for entry in _sequence(user.get("ports")) if _target(entry) == port]
    if not published:
        published = [{"target": port, "host_ip": "127.0.0.1", "protocol": "tcp"}]
    own = [{"target": own, "host_ip": "127.0.0.1", "protocol": "tcp"} for own in (API_PORT, MONITOR_PORT)]
    return [*published, *own]


def _target(entry: object) -> int | None:
    if isinstance(entry, Mapping):
        try:
            return int(entry.get("target"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return None
    return None


def _sequence(value: object) -> Sequence[Any]:
    return value if isinstance(value, Sequence) and not isinstance(value, str) else ()


# --------------------------------------------------------------------------- the run's labels and tags

_REPO_PART = re.compile(r"[^a-z0-9]+")
IMAGE_NAMESPACE: Final = "athalia"


def build_tag(project_directory: Path, service: str, env: str) -> str:
    """``athalia/<dir>-<hash6>-<service>:<env>``: the stable tag of an image compose builds for a run.

    One per project directory, service and environment, so runs reuse it instead of adding
    ``<project>-<service>`` each time. The hash of the directory's absolute path keeps two
    checkouts of one app (git worktrees, CI workspaces) from taking each other's tag.
    """
    path = str(project_directory.resolve())
    digest = hashlib.sha256(path.encode()).hexdigest()[:6]
    directory = _REPO_PART.sub("-", project_directory.resolve().name.lower()).strip("-")[:32] or "app"
    name = _REPO_PART.sub("-", service.lower()).strip("-")[:40] or "service"
    return f"{IMAGE_NAMESPACE}/{directory}-{digest}-{name}:{env_slug(env) or 'env'}"


def run_labels(owner: RunOwner | None, env: str) -> dict[str, str]:
    """The labels on every resource of a run: its owner's (none for a kept stack) and its environment."""
    return {**(owner.labels() if owner is not None else {}), ENV_LABEL: env_slug(env)}


def run_override(
    model: Mapping[str, Any],
    *,
    labels: Mapping[str, str],
    env: str,
    project_directory: Path,
    ports: PortsMode = "private",
) -> dict[str, Any]:
    """The override that labels every service, network and volume of `model` and tags what compose builds.

    `model` is ``docker compose config --no-interpolate --format json`` of the user's files. External
    networks and volumes are not ours: they are left alone. So is an image the user named. With
    `ports` ``private`` every published port is republished on 127.0.0.1 with an ephemeral host port
    (:func:`~pytest_athalia.stack._ports.private_ports`).
    """
    services: dict[str, Any] = {}
    for name, service in _mapping(model.get("services")).items():
        entry: dict[str, Any] = {"labels": dict(labels)}
        private = private_ports(service) if ports == "private" and isinstance(service, Mapping) else None
        if private is not None:
            entry["ports"] = Override(private)  # replaces the user's ports; a plain list would add to them
        if isinstance(service, Mapping) and "build" in service and not service.get("image"):
            tag = build_tag(project_directory, str(name), env)
            entry["image"] = tag
            if "pull_policy" not in service:
                entry["pull_policy"] = "never"  # a missing build is an error, never a pull of our name
            entry["build"] = {"labels": {**labels, IMAGE_LABEL: tag}}
        elif isinstance(service, Mapping) and "build" in service:
            # The user names the image: each run's build takes that name and leaves the previous build
            # untagged. Labelled, those older builds are ours to remove; the named image never is.
            entry["build"] = {"labels": {**labels, IMAGE_LABEL: str(service["image"]), NAMED_LABEL: "true"}}
        services[str(name)] = entry
    override: dict[str, Any] = {"services": services}
    for section in ("networks", "volumes"):
        ours = {
            str(name): {"labels": dict(labels)}
            for name, spec in _mapping(model.get(section)).items()
            if not (isinstance(spec, Mapping) and spec.get("external"))
        }
        if ours:
            override[section] = ours
    return override


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


class RunOverride:
    """The run's override file (``athalia.yml``) in its own generated-files folder.

    :meth:`release` removes the folder and, if the run built images, the older builds its
    build left untagged that no container uses.
    """

    def __init__(
        self,
        files: OverrideFiles,
        path: Path,
        env: str,
        builds: frozenset[str],
        say: Callable[[str], None] = lambda line: None,
    ) -> None:
        self.files = files
        self.path = path
        self.env = env
        self.builds = builds  # the image names this run's builds take (IMAGE_LABEL values)
        self._say = say

    @classmethod
    def write(
        cls,
        model: Mapping[str, Any],
        *,
        project: str,
        env: str,
        project_directory: Path,
        keep: bool,
        root: Path | None = None,
        say: Callable[[str], None] = lambda line: None,
        ports: PortsMode = "private",
    ) -> RunOverride:
        """Write the run's override for `model`, the merged model of the user's compose files.

        A kept stack (`keep`) gets no owner labels: it outlives the run, and only
        ``athalia cleanup --all`` removes it. `ports` is ``stack.ports``.
        """
        labels = run_labels(None if keep else this_run(), env)
        data = run_override(model, labels=labels, env=env, project_directory=project_directory, ports=ports)
        files = OverrideFiles(project, root)
        try:
            path = files.write("athalia.yml", data)
        except BaseException:
            files.remove()
            raise
        builds = frozenset(
            str(service["build"]["labels"][IMAGE_LABEL]) for service in data["services"].values() if "build" in service
        )
        return cls(files, path, env, builds, say)

    def release(self) -> None:
        """Remove the folder, then the older builds of the images this run built that no container uses; never raises.

        By name, whatever environment built them: a name from the compose file is shared by every
        environment's runs, and each build leaves the previous one untagged.
        """
        self.files.remove()
        if not self.builds:
            return
        try:
            api = DockerResources.from_env()
        except AthaliaError:
            return  # the next `athalia cleanup` removes them
        try:
            for image in remove_old_builds(api, names=self.builds):
                self._say(f"removed {image.describe()}")
        except AthaliaError as exc:
            self._say(f"could not remove older builds: {exc}")
        finally:
            api.close()


def deploy_override(
    service: str, *, image: str | None, env: Mapping[str, str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The override that deploys `service` with `image` and `env`, and the variables compose needs for it.

    Values never go into the file: each one is a ``${ATHALIA_DEPLOY_ENV_<n>}`` reference that compose
    fills from its own environment. Not from the value's own name: compose would also interpolate it
    into the user's files (``image: app:${APP_VERSION}``).
    """
    entry: dict[str, Any] = {}
    if image is not None:
        entry["image"] = image
    variables = {f"{DEPLOY_ENV_PREFIX}{index}": value for index, value in enumerate(env.values())}
    if env:
        entry["environment"] = {name: "${" + ref + "}" for name, ref in zip(env, variables, strict=True)}
    return {"services": {service: entry}}, variables


def _labels(labels: object) -> dict[str, str]:
    if isinstance(labels, Mapping):
        return {str(k): str(v) for k, v in labels.items()}
    if isinstance(labels, Sequence) and not isinstance(labels, str):
        return dict(str(item).partition("=")[::2] for item in labels)
    return {}


def _escape(text: str) -> str:
    return text.replace("$", "$$")  # compose interpolates config content too


# --------------------------------------------------------------------------- files on disk


@dataclass(frozen=True)
class Reset:
    """compose's ``!reset`` tag (compose 2.18+): the key is removed from the merged model."""


@dataclass(frozen=True)
class Override:
    """compose's ``!override`` tag (compose 2.24.4+): `value` replaces the key instead of merging into it."""

    value: Any


class _ComposeDumper(yaml.SafeDumper):
    """``yaml.SafeDumper`` that writes :class:`Reset` and :class:`Override` as compose's tags."""


def _represent_override(dumper: yaml.SafeDumper, data: Override) -> yaml.Node:
    if isinstance(data.value, Mapping):
        return dumper.represent_mapping("!override", dict(data.value))
    if isinstance(data.value, Sequence) and not isinstance(data.value, str):
        return dumper.represent_sequence("!override", list(data.value))
    return dumper.represent_scalar("!override", str(data.value))


_ComposeDumper.add_representer(Reset, lambda dumper, data: dumper.represent_scalar("!reset", ""))
_ComposeDumper.add_representer(Override, _represent_override)


class OverrideFiles:
    """A private folder (0700) for one project's generated files (0600), removed with :meth:`remove`."""

    def __init__(self, project: str, root: Path | None = None) -> None:
        parent = root if root is not None else generated_root()
        parent.mkdir(parents=True, exist_ok=True)
        self.path = Path(tempfile.mkdtemp(prefix=f"{project}-", dir=parent))  # mkdtemp: mode 0700
        write_owner_file(self.path, this_run())  # so that only a provably dead run's folder is swept

    def write(self, name: str, data: Mapping[str, Any]) -> Path:
        """Write `data` as YAML to a new file readable only by us; refuses to overwrite."""
        path = self.path / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write("# Generated by pytest-athalia; removed when the stack stops.\n")
            yaml.dump(dict(data), handle, Dumper=_ComposeDumper, sort_keys=False, default_flow_style=False, width=1000)
        return path

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


# --------------------------------------------------------------------------- the router image


def router_dockerfile_dir() -> resources.abc.Traversable:
    """The build context of the router image shipped in the package (``assets/router``)."""
    return resources.files("pytest_athalia") / "assets" / "router"


def prometheus_dockerfile_dir() -> resources.abc.Traversable:
    """The build context of the Prometheus image shipped in the package (``assets/prometheus``)."""
    return resources.files("pytest_athalia") / "assets" / "prometheus"


def router_recipe() -> str:
    """A digest of the shipped Dockerfile, kept as a label on the image built from it."""
    return _recipe(router_dockerfile_dir() / "Dockerfile")


def prometheus_recipe() -> str:
    """A digest of the shipped Prometheus Dockerfile, kept as a label on the image built from it."""
    return _recipe(prometheus_dockerfile_dir() / "Dockerfile")


def _recipe(dockerfile: resources.abc.Traversable | Path) -> str:
    return hashlib.sha256(dockerfile.read_bytes()).hexdigest()[:16]


def router_image_present(image: str, docker: str = "docker") -> bool:
    """True when `image` exists and is not an outdated build of one of our Dockerfiles (router, Prometheus).

    An image without our label (``haproxy:2.6``, or one the user built) is used as it is.
    """
    argv = [docker, "image", "inspect", "--format", f'{{{{index .Config.Labels "{RECIPE_LABEL}"}}}}', image]
    try:
        proc = run_command(argv, timeout=30, check=False, split_stderr=True)
    except AthaliaError:  # no docker, or no answer: build it
        return False
    if proc.returncode != 0:
        return False
    recipe = proc.stdout.strip()
    return recipe in ("", "<no value>", router_recipe(), prometheus_recipe())


def router_build_command(image: str, context: str, environ: Mapping[str, str]) -> list[str]:
    """``docker build`` of one of our images (router, Prometheus) from its shipped `context`, FROM the
    stack's BASE_IMAGE (default debian:bookworm-slim); labelled with the digest of that context's Dockerfile."""
    base = environ.get("BASE_IMAGE") or DEFAULT_PULL_SOURCE
    dockerfile = Path(context) / "Dockerfile"
    recipe = _recipe(dockerfile) if dockerfile.is_file() else router_recipe()
    return [
        "docker",
        "build",
        "--tag",
        image,
        "--label",
        f"{RECIPE_LABEL}={recipe}",
        "--build-arg",
        f"BASE_IMAGE={base}",
        context,
    ]
