"""The generated compose overrides (the run's labels and build tags; second color, router), files and router image."""

from __future__ import annotations

import json
import re
import stat
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_athalia._errors import StackError
from pytest_athalia.release._faults import lua_script
from pytest_athalia.stack import _override as override
from pytest_athalia.stack._override import OverrideFiles, RouterPlan, compose_override, deploy_override, haproxy_config
from pytest_athalia.stack._ownership import Place, RunOwner, owner_from_labels, this_run
from pytest_athalia.stack._resources import FakeDockerResources

PLAN = RouterPlan(
    project="athalia-dev-main-p1-abcdef",
    service="app",
    port=8000,
    health_path="/health",
    router_image="athalia/router:2.6",
    start_period_s=120,
)


def demo_model() -> dict[str, Any]:
    """What `docker compose config --no-interpolate --format json` says of a demo-like stack."""
    return {
        "name": "athalia-dev-main-p1-abcdef",
        "services": {
            "app": {
                "build": {"context": "/src/demo", "dockerfile": "Dockerfile"},
                "image": "athalia-demo/app:${APP_VERSION:-1.0.0}",
                "container_name": "the-app",
                "hostname": "app",
                "environment": {"APP_VERSION": "${APP_VERSION:-1.0.0}", "POSTGRES_PASSWORD": "${POSTGRES_PASSWORD:?x}"},
                "depends_on": {"db": {"condition": "service_healthy", "required": True}},
                "healthcheck": {"test": ["CMD", "curl", "-f", "http://127.0.0.1:8000/health"], "interval": "1s"},
                "networks": {"default": {"aliases": ["api"], "ipv4_address": "10.0.0.5"}, "back": None},
                "ports": [{"host_ip": "0.0.0.0", "published": "8000", "target": 8000, "protocol": "tcp"}],
                "deploy": {"replicas": 2, "resources": {"limits": {"memory": "256M"}}},
                "labels": {"team": "core"},
                "profiles": ["web"],
            },
            "db": {"image": "postgres:15"},
        },
        "networks": {"default": {"name": "athalia_default"}, "back": {"name": "athalia_back"}},
    }


class _ComposeLoader(yaml.SafeLoader):
    """Reads compose's tags back: ``!reset`` as RESET, ``!override`` as its value."""


RESET = "<!reset>"
_ComposeLoader.add_constructor("!reset", lambda loader, node: RESET)
_ComposeLoader.add_multi_constructor(
    "!override",
    lambda loader, suffix, node: (
        loader.construct_mapping(node, deep=True)
        if isinstance(node, yaml.MappingNode)
        else loader.construct_sequence(node, deep=True)
        if isinstance(node, yaml.SequenceNode)
        else loader.construct_scalar(node)  # type: ignore[arg-type]
    ),
)


def written(data: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """`data` as compose will read it: written by OverrideFiles, parsed back as YAML with compose's tags."""
    files = OverrideFiles("athalia-dev-main-p1-abcdef", tmp_path)
    loaded: dict[str, Any] = yaml.load(files.write("rollout.yml", data).read_text(), Loader=_ComposeLoader)
    return loaded


# -- the override --------------------------------------------------------------------------------------------------


def test_override_puts_the_router_in_the_services_place_and_adds_two_colors(tmp_path: Path) -> None:
    """The service's own name becomes the router; blue and green run the user's definition."""
    data = written(compose_override(demo_model(), PLAN), tmp_path)
    assert sorted(data) == ["configs", "services"]
    assert list(data["services"]) == ["app", "app-blue", "app-green"]
    assert list(data["configs"]) == ["athalia-router-cfg", "athalia-router-faults"]


@pytest.mark.parametrize("color", ["blue", "green"])
def test_each_color_is_the_users_definition_without_its_identity(color: str, tmp_path: Path) -> None:
    """Both keep the image, env references, healthcheck and dependencies; not the name, aliases or host ports."""
    service = written(compose_override(demo_model(), PLAN), tmp_path)["services"][f"app-{color}"]
    user = demo_model()["services"]["app"]
    for key in ("image", "environment", "healthcheck", "depends_on"):
        assert service[key] == user[key], key
    for key in ("container_name", "hostname", "profiles"):
        assert key not in service, key
    assert service["ports"] == [{"target": 8000, "host_ip": "127.0.0.1", "protocol": "tcp"}]
    assert service["networks"] == {"default": None, "back": None}  # the aliases and address are the router's
    assert service["deploy"] == {"resources": {"limits": {"memory": "256M"}}}  # replicas would clash
    assert service["labels"] == {"team": "core", "dev.athalia.color": color}


def test_blue_builds_and_green_reuses_its_image_at_scale_zero(tmp_path: Path) -> None:
    """Only blue keeps `build`: green runs the image blue's build made, and starts with no container."""
    services = written(compose_override(demo_model(), PLAN), tmp_path)["services"]
    assert services["app-blue"]["build"] == demo_model()["services"]["app"]["build"]
    assert "scale" not in services["app-blue"]
    assert "build" not in services["app-green"]
    assert services["app-green"]["scale"] == 0


def test_secrets_stay_references_in_the_file(tmp_path: Path) -> None:
    """The override holds `${...}` references from the uninterpolated model, never a resolved value."""
    text = (OverrideFiles("p", tmp_path).write("rollout.yml", compose_override(demo_model(), PLAN))).read_text()
    assert "${POSTGRES_PASSWORD:?x}" in text


def test_green_of_a_built_service_without_image_name_uses_the_image_compose_builds(tmp_path: Path) -> None:
    """Compose names an unnamed built image <project>-<service>; green runs that one instead of building again."""
    model = demo_model()
    del model["services"]["app"]["image"]
    green = written(compose_override(model, PLAN), tmp_path)["services"]["app-green"]
    assert green["image"] == "athalia-dev-main-p1-abcdef-app"
    assert "build" not in green


def test_the_router_keeps_what_the_service_published_for_its_port_and_its_own_ports_on_loopback(
    tmp_path: Path,
) -> None:
    """The service's mapping of stack.port moves to the router; runtime API 9999 and monitor 8405 on 127.0.0.1."""
    router = written(compose_override(demo_model(), PLAN), tmp_path)["services"]["app"]
    assert router["ports"] == [
        {"host_ip": "0.0.0.0", "published": "8000", "target": 8000, "protocol": "tcp"},
        {"target": 9999, "host_ip": "127.0.0.1", "protocol": "tcp"},
        {"target": 8405, "host_ip": "127.0.0.1", "protocol": "tcp"},
    ]


def test_a_service_that_publishes_nothing_gets_a_loopback_port_for_the_probe(tmp_path: Path) -> None:
    """No mapping of stack.port: the router publishes it on 127.0.0.1 with an ephemeral port; other targets go."""
    model = demo_model()
    model["services"]["app"]["ports"] = [{"target": 9100, "published": "9100", "protocol": "tcp"}]
    router = written(compose_override(model, PLAN), tmp_path)["services"]["app"]
    assert router["ports"][0] == {"target": 8000, "host_ip": "127.0.0.1", "protocol": "tcp"}
    assert [port["target"] for port in router["ports"]] == [8000, 9999, 8405]


def test_the_router_runs_haproxy_and_resets_the_rest_of_the_users_definition(tmp_path: Path) -> None:
    """haproxy is the entrypoint (ours and the official image have it on PATH); build, env and the rest are reset."""
    data = written(compose_override(demo_model(), PLAN), tmp_path)
    router = data["services"]["app"]
    assert router["image"] == "athalia/router:2.6"
    assert router["entrypoint"] == ["haproxy"]
    assert router["command"] == ["-db", "-f", "/etc/athalia/haproxy.cfg"]
    assert router["configs"] == [
        {"source": "athalia-router-cfg", "target": "/etc/athalia/haproxy.cfg"},
        {"source": "athalia-router-faults", "target": "/etc/athalia/faults.lua"},  # drills: the fault script
    ]
    assert data["configs"]["athalia-router-cfg"]["content"] == haproxy_config("app", 8000, "/health")
    assert data["configs"]["athalia-router-faults"]["content"] == lua_script("colors")
    assert router["stop_signal"] == "SIGUSR1"
    assert router["cap_drop"] == ["ALL"]
    assert router["depends_on"] == {"app-blue": {"condition": "service_started"}}
    for key in ("build", "environment", "deploy", "hostname"):
        assert router[key] == RESET, key
    for key in ("networks", "container_name", "profiles"):
        assert key not in router, key  # kept from the user's definition: others find the service by them


def test_the_router_is_healthy_once_a_color_passed_a_check_and_waits_as_long_as_the_startup_slo(
    tmp_path: Path,
) -> None:
    """Its healthcheck reads the runtime API for a server UP after a passing check; start_period is the SLO."""
    router = written(compose_override(demo_model(), PLAN), tmp_path)["services"]["app"]
    check = router["healthcheck"]
    assert check["test"][:3] == ["CMD", "bash", "-c"]
    assert "/dev/tcp/127.0.0.1/9999" in check["test"][3]
    assert "show stat colors 4 -1" in check["test"][3]
    assert "[[ $$line == *,UP,*,L7OK,* ]]" in check["test"][3]  # $$: compose must not interpolate it
    assert check["start_period"] == "120s"
    assert "monitor fail if { nbsrv(colors) lt 1 }" in haproxy_config("app", 8000, "/health")


def test_a_dollar_in_the_config_is_escaped_for_compose(tmp_path: Path) -> None:
    """Compose interpolates config content too: a literal `$` is written `$$`."""
    plan = RouterPlan("p", "app", 8000, "/health$x", "img", 60)
    content = written(compose_override(demo_model(), plan), tmp_path)["configs"]["athalia-router-cfg"]["content"]
    assert "uri /health$$x " in content


def test_a_service_without_networks_leaves_the_colors_on_the_default_network(tmp_path: Path) -> None:
    """No networks key on the service: the colors join compose's default network, the router stays there."""
    model = demo_model()
    del model["services"]["app"]["networks"]
    services = written(compose_override(model, PLAN), tmp_path)["services"]
    assert "networks" not in services["app-green"]
    assert "networks" not in services["app-blue"]
    assert "networks" not in services["app"]


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda m: m["services"].pop("app"), r"stack.service is 'app', but the compose files define no such service"),
        (lambda m: m["services"].update({"app-green": {}}), "already define a service 'app-green'"),
        (lambda m: m["services"].update({"app-blue": {}}), "already define a service 'app-blue'"),
        (lambda m: m["services"]["app"].update({"network_mode": "host"}), "uses network_mode 'host'"),
    ],
    ids=["no-such-service", "green-taken", "blue-taken", "host-network"],
)
def test_stacks_the_override_cannot_handle_are_explained(change: Any, match: str) -> None:
    """Each case is a StackError naming the service and the fix."""
    model = demo_model()
    change(model)
    with pytest.raises(StackError, match=match):
        compose_override(model, PLAN)


# -- the HAProxy configuration -------------------------------------------------------------------------------------


def test_haproxy_config_loads_the_fault_script_and_faults_answers_before_naming_their_color() -> None:
    """lua-load in global; the fault action precedes the color header, so a replaced answer still names its color."""
    config = haproxy_config("app", 8000, "/health")
    assert "    lua-load /etc/athalia/faults.lua\n" in config.split("resolvers docker")[0]
    backend = config.split("\nbackend colors\n")[1].split("\n\n")[0]
    assert backend.index("http-response lua.athalia_fault") < backend.index("http-response set-header X-Athalia-Color")
    assert backend.index("http-request lua.athalia_hold") < backend.index("use-server green if")
    assert "    option persist\n" in backend


def test_haproxy_config_resolves_colors_through_dockers_dns() -> None:
    """Servers are found by service name through 127.0.0.11 and may start unresolved (green has no container)."""
    config = haproxy_config("app", 8000, "/health")
    assert "resolvers docker\n    nameserver dns 127.0.0.11:53\n" in config
    assert "init-addr libc,none resolvers docker check" in config
    assert "    server blue app-blue:8000 weight 100\n    server green app-green:8000 weight 0\n" in config


def test_haproxy_config_checks_health_retries_and_exposes_the_admin_api() -> None:
    """Health checks on the health path, retries with redispatch, runtime API at level admin, Prometheus page."""
    config = haproxy_config("web", 8080, "/healthz")
    lines = {line.strip() for line in config.splitlines()}
    assert {
        "mode http",
        "balance roundrobin",
        "http-check send meth GET uri /healthz ver HTTP/1.1 hdr Host localhost",
        "retries 3",
        "option redispatch 1",
        "retry-on conn-failure empty-response junk-response",
        "stats socket ipv4@0.0.0.0:9999 level admin",
        "http-request use-service prometheus-exporter if { path /metrics }",
        "http-response set-header X-Athalia-Color %[srv_name]",
        "server green web-green:8080 weight 0",
    } <= lines


# -- the deploy override ---------------------------------------------------------------------------------------------


def test_deploy_override_holds_names_and_references_never_values(tmp_path: Path) -> None:
    """Values reach compose through ATHALIA_DEPLOY_ENV_<n>, not their own names (they would interpolate the files)."""
    data, variables = deploy_override("app-green", image="app:2", env={"APP_VERSION": "9.9.9", "TOKEN": "s3cr3t"})
    text = OverrideFiles("p", tmp_path).write("deploy.yml", data).read_text()
    assert "s3cr3t" not in text
    assert "9.9.9" not in text
    assert yaml.safe_load(text) == {
        "services": {
            "app-green": {
                "image": "app:2",
                "environment": {"APP_VERSION": "${ATHALIA_DEPLOY_ENV_0}", "TOKEN": "${ATHALIA_DEPLOY_ENV_1}"},
            }
        }
    }
    assert variables == {"ATHALIA_DEPLOY_ENV_0": "9.9.9", "ATHALIA_DEPLOY_ENV_1": "s3cr3t"}


def test_deploy_override_without_env_sets_only_the_image() -> None:
    """No env: no environment key and no variables."""
    assert deploy_override("app", image="app:3", env={}) == ({"services": {"app": {"image": "app:3"}}}, {})


# -- files --------------------------------------------------------------------------------------------------------


def test_generated_files_are_private_and_removed(tmp_path: Path) -> None:
    """The folder is 0700, each file 0600, an existing file is never overwritten, and remove() deletes it all."""
    files = OverrideFiles("athalia-dev-main-p1-abcdef", tmp_path / "root")
    path = files.write("rollout.yml", {"services": {}})
    assert files.path.parent == tmp_path / "root"
    assert files.path.name.startswith("athalia-dev-main-p1-abcdef-")
    assert stat.S_IMODE(files.path.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(FileExistsError):
        files.write("rollout.yml", {})
    files.remove()
    assert not files.path.exists()
    files.remove()  # twice is fine


# -- the router image ------------------------------------------------------------------------------------------------


def test_the_packaged_dockerfile_builds_haproxy_from_debian_as_non_root() -> None:
    """The shipped Dockerfile takes BASE_IMAGE, installs Debian's haproxy, drops root and stops on SIGUSR1."""
    text = (override.router_dockerfile_dir() / "Dockerfile").read_text()
    assert "ARG BASE_IMAGE=debian:bookworm-slim\nFROM ${BASE_IMAGE}\n" in text
    assert "apt-get install -y --no-install-recommends haproxy" in text
    assert "USER haproxy:haproxy" in text
    assert "HEALTHCHECK" in text
    assert "STOPSIGNAL SIGUSR1" in text


def test_router_build_command_uses_the_stacks_base_image_and_labels_the_recipe() -> None:
    """BASE_IMAGE comes from the stack's environment (default debian:bookworm-slim); the label marks our build."""
    recipe = override.router_recipe()
    assert len(recipe) == 16
    assert override.router_build_command("r:1", "/ctx", {"BASE_IMAGE": "athalia/base:bookworm"}) == [
        "docker",
        "build",
        "--tag",
        "r:1",
        "--label",
        f"dev.athalia.router.recipe={recipe}",
        "--build-arg",
        "BASE_IMAGE=athalia/base:bookworm",
        "/ctx",
    ]
    assert "BASE_IMAGE=debian:bookworm-slim" in override.router_build_command("r:1", "/ctx", {})


@pytest.mark.parametrize(
    ("returncode", "label", "present"),
    [(1, "", False), (0, "<no value>", True), (0, "", True), (0, "RECIPE", True), (0, "0123456789abcdef", False)],
    ids=["missing", "not-ours", "no-labels", "current-build", "outdated-build"],
)
def test_router_image_present_rebuilds_only_outdated_builds_of_our_dockerfile(
    tmp_path: Path, returncode: int, label: str, present: bool
) -> None:
    """A missing image or an older build of ours is rebuilt; an image without our label (haproxy:2.6) is used."""
    label = override.router_recipe() if label == "RECIPE" else label
    docker = tmp_path / "docker"
    docker.write_text(
        f'#!/bin/sh\n[ "$1 $2" = "image inspect" ] || exit 99\necho "{label}"\nexit {returncode}\n', encoding="utf-8"
    )
    docker.chmod(0o755)
    assert override.router_image_present("athalia/router:2.6", docker=str(docker)) is present


@pytest.mark.parametrize(
    ("version", "ok"),
    [("2.26.1-4", True), ("2.23.1", True), ("v2.24.0", True), ("3.0.0", True), ("2.23.0", False), ("2.17.3", False)],
)
def test_compose_too_old_accepts_2_23_1_and_newer(version: str, ok: bool) -> None:
    """configs.content needs compose 2.23.1; older versions get the reason and the fix."""
    reason = override.compose_too_old(version)
    assert (reason is None) is ok
    if reason:
        assert "needs docker compose 2.23.1 or newer (the router's configuration is an inline" in reason
        assert f"`configs.content`), found {version}. Install a newer compose v2" in reason


# -- the run's own override: owner labels and stable build tags ------------------------------------------------

LABELS = {"dev.athalia.owner.pid": "42", "dev.athalia.env": "dev"}


def user_model() -> dict[str, Any]:
    """A model whose `web` is built without `image:`, `api` built under a name of the user's, `db` pulled."""
    return {
        "name": "athalia-dev-main-p42-abcdef",
        "services": {
            "web": {"build": {"context": "/src/shop/web"}, "labels": {"team": "core"}},
            "api": {"build": {"context": "/src/shop/api"}, "image": "shop/api:1"},
            "worker": {"build": {"context": "/src/shop/web"}, "pull_policy": "build"},
            "db": {"image": "postgres:15"},
        },
        "networks": {"default": {"name": "x_default"}, "shared": {"external": True, "name": "shared"}},
        "volumes": {"data": {"name": "x_data"}, "cache": {"external": True}},
    }


def test_run_override_labels_every_service_network_and_volume_but_external_ones() -> None:
    """Containers, networks and volumes of the run all carry the owner labels; external ones are not ours."""
    data = override.run_override(user_model(), labels=LABELS, env="dev", project_directory=Path("/src/shop"))
    assert {name: entry["labels"] for name, entry in data["services"].items()} == dict.fromkeys(
        ("web", "api", "worker", "db"), LABELS
    )
    assert data["networks"] == {"default": {"labels": LABELS}}
    assert data["volumes"] == {"data": {"labels": LABELS}}


def test_run_override_tags_only_builds_without_an_image_name() -> None:
    """A build without `image:` gets the stable tag and never-pull; a named one keeps its name; both are labelled."""
    data = override.run_override(user_model(), labels=LABELS, env="Dev", project_directory=Path("/src/shop"))
    tag = override.build_tag(Path("/src/shop"), "web", "dev")
    web = data["services"]["web"]
    assert web["image"] == tag
    assert web["pull_policy"] == "never"
    assert web["build"] == {"labels": {**LABELS, "dev.athalia.image": tag}}
    worker = data["services"]["worker"]
    assert worker["image"] == override.build_tag(Path("/src/shop"), "worker", "dev")
    assert "pull_policy" not in worker  # the user's own choice stays
    api = data["services"]["api"]
    assert "image" not in api  # the user's name stays
    assert api["build"] == {"labels": {**LABELS, "dev.athalia.image": "shop/api:1", "dev.athalia.image.named": "true"}}
    assert set(data["services"]["db"]) == {"labels"}


def test_build_tag_is_stable_per_directory_service_and_environment(tmp_path: Path) -> None:
    """Same inputs, same tag (runs reuse it); another checkout, service or environment, another tag."""
    first, second = tmp_path / "a" / "shop", tmp_path / "b" / "shop"
    tag = override.build_tag(first, "web", "dev")
    assert tag == override.build_tag(first, "web", "dev")
    assert tag.startswith("athalia/shop-")
    assert tag.endswith("-web:dev")
    assert len({tag, *(override.build_tag(*args) for args in ((second, "web", "dev"), (first, "api", "dev")))}) == 3
    assert override.build_tag(first, "web", "qa") == tag.removesuffix(":dev") + ":qa"


def test_build_tag_is_a_valid_docker_reference_for_any_names(tmp_path: Path) -> None:
    """Upper case, dots and underscores in folder, service and environment names still make a valid tag."""
    tag = override.build_tag(tmp_path / "My_Shop.App", "Web_Front.v2", "Prod EU!")
    assert re.fullmatch(r"athalia/[a-z0-9]+(?:-[a-z0-9]+)*:[a-z0-9]+", tag), tag
    assert tag.endswith("-web-front-v2:prodeu")


def test_run_labels_of_a_kept_stack_name_no_owner() -> None:
    """A kept stack outlives its run: it carries its environment but no owner, so no sweep judges it."""
    owner = RunOwner(Place("m", "b", 1), 42, 7, "h")
    assert override.run_labels(owner, "Dev") == {**owner.labels(), "dev.athalia.env": "dev"}
    assert override.run_labels(None, "Dev") == {"dev.athalia.env": "dev"}


def test_router_carries_the_runs_owner_labels_from_the_service() -> None:
    """The router and the colors are containers of the run too: they keep the service's labels, owner's included."""
    model = demo_model()
    owner_labels = RunOwner(Place("m", "b", 1), 42, 7, "h").labels()
    model["services"]["app"]["labels"] = {**owner_labels, "dev.athalia.env": "dev", "team": "core"}
    services = compose_override(model, PLAN)["services"]
    assert services["app"]["labels"].value == {
        **owner_labels,
        "dev.athalia.env": "dev",
        "team": "core",
        "dev.athalia.role": "router",
    }
    assert services["app-green"]["labels"] == {**model["services"]["app"]["labels"], "dev.athalia.color": "green"}


def test_override_files_record_their_owner(tmp_path: Path) -> None:
    """A generated-files folder names this run as its owner, so only a sweep that proves it dead removes it."""
    files = OverrideFiles("athalia-dev-main-p1-abcdef", tmp_path)
    owner = json.loads((files.path / "owner.json").read_text())
    assert owner_from_labels(owner) == this_run()


def test_run_override_file_then_release_removes_files_and_older_builds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """write(): the labels file in a private folder; release(): the folder goes, then unused older builds it made."""
    api = FakeDockerResources()
    tag = override.build_tag(tmp_path, "web", "dev")
    api.add_image("sha256:new", tag, env="dev")
    api.add_image("sha256:old", tag, tagged=False, env="dev")
    api.add_image("sha256:qa", override.build_tag(tmp_path, "web", "qa"), tagged=False, env="qa")  # not built here
    api.add_image("sha256:api-qa", "shop/api:1", tagged=False, env="qa", named=True)  # a shared name: built here
    monkeypatch.setattr(override.DockerResources, "from_env", classmethod(lambda cls: api))
    said: list[str] = []
    run = override.RunOverride.write(
        user_model(),
        project="athalia-dev-main-p1-abcdef",
        env="Dev",
        project_directory=tmp_path,
        keep=False,
        root=tmp_path / "generated",
        say=said.append,
    )
    data = yaml.safe_load(run.path.read_text())
    assert data["services"]["web"]["image"] == tag
    assert owner_from_labels(data["services"]["db"]["labels"]) == this_run()
    run.release()
    assert not run.path.parent.exists()
    assert sorted(api.image_refs) == ["sha256:new", "sha256:qa"]
    assert sorted(said) == sorted(
        [f"removed image old (an older build of {tag})", "removed image api-qa (an older build of shop/api:1)"]
    )


def test_a_kept_run_override_has_no_owner_and_builds_nothing_releases_without_docker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kept stack is labelled with its environment only; with nothing built, release() never calls docker."""
    model = {"services": {"db": {"image": "postgres:15"}}}

    def no_docker(cls: object) -> None:
        raise AssertionError("release() called docker with nothing built")

    monkeypatch.setattr(override.DockerResources, "from_env", classmethod(no_docker))
    run = override.RunOverride.write(
        model,
        project="athalia-dev-main-keep-abcdef",
        env="dev",
        project_directory=tmp_path,
        keep=True,
        root=tmp_path / "generated",
    )
    assert yaml.safe_load(run.path.read_text())["services"]["db"]["labels"] == {"dev.athalia.env": "dev"}
    run.release()
    assert not run.path.parent.exists()


@pytest.mark.parametrize("port", [9999, 8405])
def test_a_service_port_the_router_keeps_for_itself_is_refused(port: int) -> None:
    """stack.port 9999 or 8405 would clash with the router's runtime API or monitor: a StackError naming the fix."""
    plan = RouterPlan("p", "app", port, "/health", "img", 60)
    with pytest.raises(StackError, match=rf"stack.port is {port}, a port the rollout's router keeps"):
        compose_override(demo_model(), plan)


# -- rollout.canary.metrics: prometheus --------------------------------------------------------------------------

PROMETHEUS_PLAN = RouterPlan(
    project=PLAN.project,
    service=PLAN.service,
    port=PLAN.port,
    health_path=PLAN.health_path,
    router_image=PLAN.router_image,
    start_period_s=PLAN.start_period_s,
    prometheus_image="athalia/prometheus:bookworm",
)


def test_no_prometheus_unless_the_canary_asks_for_it() -> None:
    """The default (metrics: haproxy) adds no service and no configuration."""
    data = compose_override(demo_model(), PLAN)
    assert override.PROMETHEUS_SERVICE not in data["services"]
    assert override.PROMETHEUS_CONFIG_NAME not in data["configs"]


def test_prometheus_scrapes_the_routers_exporter_every_second_from_an_inline_config(tmp_path: Path) -> None:
    """The scrape config names <service>:8405/metrics (server scope) at 1 s; it reaches the container inline."""
    data = written(compose_override(demo_model(), PROMETHEUS_PLAN), tmp_path)
    content = data["configs"]["athalia-prometheus-cfg"]["content"]
    config = yaml.safe_load(content)
    assert config["global"] == {"scrape_interval": "1s", "scrape_timeout": "1s"}
    (job,) = config["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    assert job["params"] == {"scope": ["server"]}
    assert job["static_configs"] == [{"targets": ["app:8405"]}]
    service = data["services"]["athalia-prometheus"]
    assert service["configs"] == [{"source": "athalia-prometheus-cfg", "target": "/etc/athalia/prometheus.yml"}]
    assert "--config.file=/etc/athalia/prometheus.yml" in service["command"]
    assert service["entrypoint"] == ["prometheus"]
    assert service["image"] == "athalia/prometheus:bookworm"


def test_prometheus_is_published_on_loopback_only_on_the_routers_networks_with_a_healthcheck(tmp_path: Path) -> None:
    """An ephemeral 127.0.0.1 port, the service's networks (not its aliases), no capabilities, ready when /-/ready."""
    service = written(compose_override(demo_model(), PROMETHEUS_PLAN), tmp_path)["services"]["athalia-prometheus"]
    assert service["ports"] == [{"target": 9090, "host_ip": "127.0.0.1", "protocol": "tcp"}]
    assert service["networks"] == {"default": None, "back": None}
    assert service["cap_drop"] == ["ALL"]
    assert service["depends_on"] == {"app": {"condition": "service_started"}}
    test = service["healthcheck"]["test"]
    assert test[:3] == ["CMD", "bash", "-c"]
    assert "GET /-/ready" in test[3]
    assert "$$code" in test[3]  # compose would interpolate a single $


def test_prometheus_carries_the_runs_labels_but_not_the_users() -> None:
    """The run's owner and environment labels (so cleanup finds it), its role; not the service's own labels."""
    model = demo_model()
    owner_labels = RunOwner(Place("m", "b", 1), 42, 7, "h").labels()
    model["services"]["app"]["labels"] = {**owner_labels, "dev.athalia.env": "dev", "team": "core"}
    service = compose_override(model, PROMETHEUS_PLAN)["services"]["athalia-prometheus"]
    assert service["labels"] == {**owner_labels, "dev.athalia.env": "dev", "dev.athalia.role": "metrics"}


def test_a_service_named_like_the_canarys_prometheus_is_a_clear_error() -> None:
    """The name is taken: the error names it, the setting that adds it, and both fixes."""
    model = demo_model()
    model["services"]["athalia-prometheus"] = {"image": "prom/prometheus"}
    with pytest.raises(StackError) as info:
        compose_override(model, PROMETHEUS_PLAN)
    assert "already define a service 'athalia-prometheus'" in str(info.value)
    assert "rollout.canary.metrics: haproxy" in str(info.value)
    assert compose_override(model, PLAN)["services"].keys() == {"app", "app-blue", "app-green"}


def test_the_packaged_prometheus_dockerfile_installs_debians_package_as_non_root() -> None:
    """BASE_IMAGE (default debian:bookworm-slim), Debian's prometheus, its own user, a healthcheck without curl."""
    text = (override.prometheus_dockerfile_dir() / "Dockerfile").read_text()
    assert "ARG BASE_IMAGE=debian:bookworm-slim\nFROM ${BASE_IMAGE}\n" in text
    assert "apt-get install -y --no-install-recommends prometheus" in text
    assert "USER prometheus:prometheus" in text
    assert "/dev/tcp/127.0.0.1/9090" in text
    assert override.PROMETHEUS_DATA in text


def test_each_shipped_context_is_labelled_with_its_own_recipe_and_both_count_as_current() -> None:
    """The Prometheus build carries its Dockerfile's digest; an image with either current digest is not rebuilt."""
    with resources.as_file(override.prometheus_dockerfile_dir()) as context:
        argv = override.router_build_command("p:1", str(context), {})
    assert f"dev.athalia.router.recipe={override.prometheus_recipe()}" in argv
    assert override.prometheus_recipe() != override.router_recipe()


@pytest.mark.parametrize("which", ["router", "prometheus"])
def test_image_present_accepts_a_current_build_of_either_dockerfile(tmp_path: Path, which: str) -> None:
    """A build of the current router or Prometheus Dockerfile is kept."""
    label = override.router_recipe() if which == "router" else override.prometheus_recipe()
    docker = tmp_path / "docker"
    docker.write_text(f'#!/bin/sh\necho "{label}"\nexit 0\n', encoding="utf-8")
    docker.chmod(0o755)
    assert override.router_image_present("x:1", docker=str(docker))
