"""Compare flow files with what a database holds (``pgflow compile --check``).

The shape is compared by the database itself (``pgflow.compare_flow_shape``, the function the
compiled shape guard uses), so the check and the migration can never disagree on what counts
as a different flow. Options are not shape, so they are compared here, from
``pgflow._get_flow_shape``. Every line reads "database value vs file value". The statements
are the named queries of ``pgflow_yaml/queries``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from pgflow_yaml import queries
from pgflow_yaml.errors import DriftCheckError as DriftCheckError
from pgflow_yaml.model import FlowSpec
from pgflow_yaml.options import KEY, OPTIONS
from pgflow_yaml.shape import flow_shape

OPTION_NAMES = {key.shape_key: key.name for key in OPTIONS}
"""The in-place options by their shape key (``maxAttempts``): what the drift check compares."""
INHERITED = "(inherited)"
NO_SCHEMA = "(none)"


@dataclass(frozen=True)
class FlowDrift:
    """How one flow file differs from the database.

    Attributes:
        flow_slug: the flow.
        source_path: the file it was read from.
        missing: the database has no flow of that slug.
        differences: shape differences, then option differences, one readable line each.
    """

    flow_slug: str
    source_path: str | None
    missing: bool = False
    differences: tuple[str, ...] = ()

    @property
    def drifted(self) -> bool:
        """Return True when the database does not hold exactly what the file declares."""
        return self.missing or bool(self.differences)


def _shown(value: Any, absent: str) -> str:
    """Return an option's value as a difference line shows it (``absent`` for ``None``)."""
    if value is None:
        return absent
    if isinstance(value, dict | list | bool):  # input_schema: compact JSON, whole
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def _options_line(label: str, db: dict[str, Any], file: dict[str, Any]) -> list[str]:
    lines = []
    for key, name in OPTION_NAMES.items():
        db_value, file_value = db.get(key), file.get(key)
        if db_value != file_value:
            absent = NO_SCHEMA if KEY[name].kind == "json_schema" else INHERITED
            shown = f"{_shown(db_value, absent)} vs {_shown(file_value, absent)}"
            lines.append(f"{label}: {name} {shown}")
    return lines


def option_differences(db_shape: dict[str, Any], file_shape: dict[str, Any]) -> list[str]:
    """Return the option differences between two shapes (database first).

    Flow options always; step options only for steps whose slug is the same at the same index
    on both sides (other steps are already reported as shape differences).
    """
    lines = _options_line("options", db_shape.get("options", {}), file_shape.get("options", {}))
    for index, (db_step, file_step) in enumerate(
        zip(db_shape.get("steps", []), file_shape.get("steps", []), strict=False)
    ):
        if db_step.get("slug") != file_step.get("slug"):
            continue
        label = f"step {index} ({file_step['slug']}) options"
        lines += _options_line(label, db_step.get("options", {}), file_step.get("options", {}))
    return lines


def check_flow(conn: psycopg.Connection[Any], flow: FlowSpec) -> FlowDrift:
    """Compare one flow with the database ``conn`` is connected to."""
    shape = flow_shape(flow)
    slug = {"flow_slug": flow.slug}
    rows = queries.fetch_sync(conn, "compare_flow_shape", slug | {"shape": Jsonb(shape)})
    if rows[0]["differences"] is None:
        return FlowDrift(flow.slug, flow.source_path, missing=True)
    db_shape = queries.fetch_sync(conn, "stored_flow_shape", slug)[0]["shape"]
    differences = list(rows[0]["differences"]) + option_differences(db_shape, shape)
    return FlowDrift(flow.slug, flow.source_path, differences=tuple(differences))


def check_drift(conn: psycopg.Connection[Any], flows: Iterable[FlowSpec]) -> list[FlowDrift]:
    """Compare every flow with the database, in the order given.

    Raises:
        DriftCheckError: the database has no ``pgflow.compare_flow_shape`` (no pgflow-yaml
            core installed; a pgflow 0.8.1 database cannot be checked).
    """
    if not queries.fetch_sync(conn, "core_installed")[0]["installed"]:
        raise DriftCheckError(
            "the database has no pgflow.compare_flow_shape: install the pgflow-yaml core "
            "there first (pgflow install)"
        )
    return [check_flow(conn, flow) for flow in flows]


def render_drift(results: Iterable[FlowDrift]) -> str:
    """Return a report of a drift check: one line per flow, then each difference indented."""
    lines = []
    for result in results:
        where = f" ({result.source_path})" if result.source_path else ""
        if result.missing:
            lines.append(f"{result.flow_slug}{where}: not in the database")
        elif result.differences:
            lines.append(f"{result.flow_slug}{where}: differs (database vs file)")
            lines += [f"  {line}" for line in result.differences]
        else:
            lines.append(f"{result.flow_slug}{where}: up to date")
    return "\n".join(lines) + ("\n" if lines else "")
