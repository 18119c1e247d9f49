"""The README's examples stay true: its environment file loads with the real schema."""

from __future__ import annotations

import re
from pathlib import Path

from pytest_athalia.config._environment import load_environment

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_environment_example_is_valid(tmp_path: Path) -> None:
    """The `environments/staging.yml` example in the README passes validation, every section included."""
    blocks = re.findall(r"```yaml\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    example = next(b for b in blocks if b.startswith("# environments/staging.yml"))
    (tmp_path / "docker-compose.yml").write_text("services: {}\n", encoding="utf-8")
    (tmp_path / "locustfile.py").write_text("", encoding="utf-8")
    folder = tmp_path / "environments"
    folder.mkdir()
    (folder / "staging.yml").write_text(example, encoding="utf-8")
    spec = load_environment(str(folder / "staging.yml"), None).spec
    assert spec.rollout.enabled
    assert spec.load.enabled
    assert spec.slo.rollback.max_ms == 100


def test_readme_lists_every_fixture_of_the_plugin() -> None:
    """Each `athalia_*` fixture the plugin registers has a row in the README's fixture table."""
    from pytest_athalia.fixtures import _load as fixtures_load
    from pytest_athalia.fixtures import _rollout as fixtures_rollout
    from pytest_athalia.fixtures import _security as fixtures_security
    from pytest_athalia.fixtures import _stack as fixtures

    names = {
        name
        for module in (fixtures, fixtures_load, fixtures_rollout, fixtures_security)
        for name in vars(module)
        # pytest >= 8.4 wraps a fixture function in an object carrying this marker.
        if name.startswith("athalia_") and hasattr(vars(module)[name], "_fixture_function_marker")
    }
    rows = set(re.findall(r"^\| (`athalia_\w+`(?:, `athalia_\w+`)*) \|", README.read_text(encoding="utf-8"), re.M))
    listed = {name.strip("`") for row in rows for name in row.split(", ")}
    assert names, "found no fixtures: the detection of pytest's fixture objects is out of date"
    assert names <= listed, f"missing from the README's fixture table: {sorted(names - listed)}"


def test_readme_installs_only_extras_that_exist() -> None:
    """Every `pytest-athalia[extra]` the README quotes is an extra of pyproject.toml."""
    import tomllib

    project = tomllib.loads((README.parent / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = set(project["optional-dependencies"])
    quoted = set(re.findall(r"pytest-athalia\[(\w+)\]", README.read_text(encoding="utf-8")))
    assert {"load", "security", "all"} <= quoted
    assert quoted <= extras, f"the README quotes extras pyproject.toml lacks: {sorted(quoted - extras)}"


def test_readme_pyargs_name_shipped_suites() -> None:
    """Every `--pyargs pytest_athalia.suites...` of the README is a package or module the wheel maps from suites/."""
    named = set(re.findall(r"--pyargs (pytest_athalia\.suites[\w.]*)", README.read_text(encoding="utf-8")))
    assert "pytest_athalia.suites.ci" in named
    suites = README.parent / "suites"
    for name in named:
        path = suites.joinpath(*name.split(".")[2:])
        assert (path / "__init__.py").is_file() or path.with_suffix(".py").is_file(), f"{name}: no {path}"
