"""The two colors of the service under deployment, for a blue-green rollout (``rollout.enabled``).

:class:`ComposeColors` implements :class:`~pytest_athalia.release._router.ColorStack` over the same
:class:`~pytest_athalia.stack._driver.ComposeDriver` and project as the stack's lifecycle
(:class:`~pytest_athalia.stack._stack.ComposeStack`): before the build it merges the generated
override of :mod:`pytest_athalia.stack._override` (the HAProxy router under ``stack.service``'s own name,
and the user's definition as ``<service>-blue`` and ``<service>-green``) into the project and builds the
router image (and, with ``rollout.canary.metrics: prometheus``, the Prometheus image); then it
redeploys one color at a time.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from .._errors import DockerUnavailable, RolloutError, StackError, StackTimeout
from ..config._environment import Environment
from ..release._router import COLORS, Color
from ..report._progress import Progress
from . import _override as override
from ._driver import BUILD_TIMEOUT, ComposeDriver, ComposeProject, endpoint_of, up_state

__all__ = ["ComposeColors"]


class ComposeColors:
    """Blue and green (``<service>-blue``, ``<service>-green`` in the generated override) of one compose stack."""

    def __init__(
        self,
        environment: Environment,
        *,
        driver: ComposeDriver,
        progress: Progress,
        files_root: Path | None = None,
    ) -> None:
        self._env = environment
        self._driver = driver
        self._progress = progress
        self._files_root = files_root
        self._files: override.OverrideFiles | None = None
        self._project: ComposeProject | None = None

    def prepare(
        self,
        project: ComposeProject,
        model: Mapping[str, Any],
        deadline: float,
        files: override.OverrideFiles | None = None,
    ) -> tuple[ComposeProject, float | None]:
        """Merge the override into `project`; build the router image (and Prometheus') if it is missing.

        The override goes into `files` (the run's folder of generated files) or a folder of its own.

        `model` is the user's merged compose model. Returns the project every later command must use
        and the seconds the images took to build (None when none was built).
        """
        spec = self._env.spec
        canary = spec.rollout.canary
        try:
            too_old = override.compose_too_old(self._driver.version())
        except DockerUnavailable as exc:
            raise StackError(str(exc)) from None
        if too_old:
            raise StackError(too_old)
        plan = override.RouterPlan(
            project=project.name,
            service=spec.stack.service,
            port=spec.stack.port,
            health_path=spec.stack.health_path,
            router_image=spec.rollout.router.image,
            start_period_s=deadline,
            prometheus_image=canary.prometheus.image if canary.metrics == "prometheus" else None,
        )
        data = override.compose_override(model, plan)
        self._files = files if files is not None else override.OverrideFiles(project.name, self._files_root)
        self._project = project.with_file(self._files.write("rollout.yml", data))
        builds: list[float] = []
        if spec.rollout.router.build and not self._driver.image_present(plan.router_image):
            builds.append(self._build_image(self._project, plan.router_image, override.router_dockerfile_dir()))
        if (
            plan.prometheus_image is not None
            and canary.prometheus.build
            and not self._driver.image_present(plan.prometheus_image)
        ):
            builds.append(
                self._build_image(
                    self._project, plan.prometheus_image, override.prometheus_dockerfile_dir(), "Prometheus"
                )
            )
        return self._project, (sum(builds) if builds else None)

    def remove_files(self) -> None:
        """Remove the generated files (once the router has its configuration, or the stack is gone)."""
        if self._files is not None:
            self._files.remove()

    # -- ColorStack ---------------------------------------------------------------------------------
    def color_service(self, color: Color) -> str:
        """The compose service of `color`: ``<stack.service>-blue`` or ``-green``, both added by the override."""
        if color not in COLORS:
            raise RolloutError(f"athalia: expected a color ({', '.join(COLORS)}), found {color!r}.")
        return override.color_service(self._env.spec.stack.service, color)

    def color_url(self, color: Color, path: str = "") -> str:
        """The color's own address on 127.0.0.1 (its published ``stack.port``), bypassing the router."""
        port = self._env.spec.stack.port
        return endpoint_of(self._driver, self._require_project(), self.color_service(color), port).url(path)

    def deploy_color(
        self, color: Color, *, image: str | None = None, env: Mapping[str, str] | None = None, timeout: float = 120.0
    ) -> float:
        """Recreate only `color`'s service with `image` (None: its own) and `env` over its environment.

        Runs ``docker compose up --detach --no-deps --no-build --force-recreate --wait`` for that one
        service and returns the seconds it took. Values of `env` reach compose through its environment,
        never through a file. Raises RolloutError with compose's output when it does not become healthy
        within `timeout`.
        """
        project = self._require_project()
        service = self.color_service(color)
        assert self._files is not None  # written with the project
        env = dict(env or {})
        data, variables = override.deploy_override(service, image=image, env=env)
        deploy_file = self._files.write(f"deploy-{color}-{time.monotonic_ns()}.yml", data) if image or env else None
        deploy = (project.with_file(deploy_file) if deploy_file else project).with_env(variables)
        wait = max(1, int(timeout))
        what = f"deploying {color} ({service}{', image ' + image if image else ''}) to {project.name}"
        try:
            with self._progress.phase(what) as step:

                def on_line(line: str) -> None:
                    state = up_state(line, project.name)
                    if state:
                        step(" ".join(state))

                try:
                    result = self._driver.up(
                        deploy,
                        [service],
                        wait_timeout=wait,
                        timeout=wait + 30,
                        on_line=on_line,
                        recreate=True,
                        scale={service: 1} if color == COLORS[1] else None,
                    )
                except StackTimeout as exc:
                    raise RolloutError(f"{exc} The {color} color ({service}) was not deployed.") from None
                if result.returncode != 0:
                    raise RolloutError(
                        f"athalia: deploying {color} (service {service}) of project {project.name} failed "
                        f"(exit {result.returncode}, wait timeout {wait} s). Check the candidate's image and "
                        f"settings (rollout.candidate in {self._env.path}) and the service's log "
                        f"(docker compose -p {project.name} logs {service}). compose said:\n{result.tail()}"
                    )
        finally:
            if deploy_file is not None:
                deploy_file.unlink(missing_ok=True)
        return result.seconds

    # -- internals ----------------------------------------------------------------------------------
    def _build_image(
        self, project: ComposeProject, image: str, context_dir: resources.abc.Traversable, what: str = "router"
    ) -> float:
        # The driver's build_router_image builds any of our shipped contexts (labelled with its recipe).
        with (
            self._progress.phase(f"building {what} image {image}") as step,
            resources.as_file(context_dir) as context,
        ):
            try:
                result = self._driver.build_router_image(
                    image,
                    context,
                    project.env,
                    timeout=BUILD_TIMEOUT,
                    on_line=lambda line: step(line.strip()) if line.startswith("Step ") else None,
                )
            except StackTimeout as exc:
                raise StackError(str(exc)) from None
        return result.seconds

    def _require_project(self) -> ComposeProject:
        if self._project is None:
            raise StackError(
                f"athalia: the colors of {self._env.spec.stack.service} are not there yet: the stack has not been "
                "started; call start() first."
            )
        return self._project
