"""Locate the data files shipped with the package (JSON Schema, SQL core)."""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable


def data_dir() -> Traversable:
    """Return the folder holding ``schemas/`` and ``sql/`` (inside the wheel or the checkout)."""
    return files("pgflow_yaml").joinpath("_data")


def schema_file() -> Traversable:
    """Return the JSON Schema of a flow file."""
    return data_dir().joinpath("schemas", "flow.schema.json")


def sql_dir() -> Traversable:
    """Return the folder of the SQL core's numbered files."""
    return data_dir().joinpath("sql")
