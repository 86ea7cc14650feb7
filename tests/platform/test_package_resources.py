"""The data files the package needs at run time resolve, and the wheel is told to ship them.

Building a wheel in a test would be slow; instead this checks that ``pgflow_yaml.resources``
finds the JSON Schema and the SQL core (through the ``_data`` links in a checkout, as files in
an installed wheel), and that ``[tool.setuptools.package-data]`` matches every data file.
"""

from __future__ import annotations

import json
import tomllib
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

import pgflow_yaml
from pgflow_yaml import resources

REPO = Path(__file__).resolve().parents[2]
PACKAGE = Path(pgflow_yaml.__file__).resolve().parent


def walk(folder: Traversable, prefix: str = "") -> dict[str, bytes]:
    """Return every file under ``folder`` by relative path, with its bytes."""
    found: dict[str, bytes] = {}
    for entry in folder.iterdir():
        if entry.name == "__pycache__":
            continue
        if entry.is_dir():
            found.update(walk(entry, f"{prefix}{entry.name}/"))
        else:
            found[f"{prefix}{entry.name}"] = entry.read_bytes()
    return found


def test_the_flow_schema_resolves_and_is_json() -> None:
    schema = json.loads(resources.schema_file().read_text(encoding="utf-8"))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_the_sql_core_resolves() -> None:
    names = [f.name for f in resources.sql_dir().iterdir() if f.name.endswith(".sql")]
    assert names, "no numbered SQL file found through pgflow_yaml.resources"


def test_shipped_data_mirrors_the_top_level_folders() -> None:
    for folder in ("schemas", "sql"):
        in_repo = {
            str(p.relative_to(REPO / folder)): p.read_bytes()
            for p in (REPO / folder).rglob("*")
            if p.is_file() and p.suffix in {".json", ".sql"}
        }
        shipped = walk(resources.data_dir().joinpath(folder))
        assert {k: v for k, v in shipped.items() if k.endswith((".json", ".sql"))} == in_repo


def test_the_package_is_typed() -> None:
    assert files("pgflow_yaml").joinpath("py.typed").is_file()


def test_package_data_patterns_cover_every_data_file() -> None:
    """Every non-Python file the package reads must match a ``package-data`` pattern."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["pgflow_yaml"]
    covered = {
        p.relative_to(PACKAGE) for pattern in patterns for p in PACKAGE.glob(pattern) if p.is_file()
    }
    data_files = {
        p.relative_to(PACKAGE)
        for p in PACKAGE.rglob("*")
        if p.is_file()
        and p.suffix not in {".py", ".pyc"}
        and "__pycache__" not in p.parts
        and not p.name.startswith(".")
    }
    data_files |= {
        Path("_data") / folder / p.relative_to(REPO / folder)
        for folder in ("schemas", "sql")
        for p in (REPO / folder).rglob("*")
        if p.is_file() and p.suffix in {".json", ".sql"}
    }
    assert sorted(map(str, data_files - covered)) == []
