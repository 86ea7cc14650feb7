"""Compare flow files with what a database holds (``pgflow compile --check``).

The shape is compared by the database itself (``pgflow.compare_flow_shape``, the function the
compiled shape guard uses), so the check and the migration can never disagree on what counts
as a different flow. Options are not shape, so they are compared here, from the flow and step
rows (:func:`stored_options`); the worker's start-up uses the same comparison
(:func:`option_changes`). Every drift line reads "database value vs file value". The statements
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
from pgflow_yaml.options import KEY, OPTIONS, Level, shape_name, stored_fields
from pgflow_yaml.shape import flow_shape

_LEVELS: tuple[Level, ...] = ("flow", "step")
OPTION_NAMES: dict[Level, dict[str, str]] = {
    level: {shape_name(field): field for key in OPTIONS for field in stored_fields(key, level)}
    for level in _LEVELS
}
"""The in-place options' stored fields by their shape key, for the flow and for a step
(``maxAttempts``; a step's ``concurrencyKey``, a flow's ``concurrency``): what the drift check
compares."""
INHERITED = "(inherited)"
NO_SCHEMA = "(none)"
NO_LIMIT = "(none)"
_LIMITS = frozenset(
    field
    for name in ("concurrency", "rate_limit")
    for level in _LEVELS
    for field in stored_fields(KEY[name], level)
)


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


@dataclass(frozen=True)
class OptionChange:
    """One option whose value in the database differs from the file's.

    Attributes:
        flow_slug: the flow.
        step_slug: the step, or ``None`` for a flow option.
        step_index: the step's index (``None`` for a flow option).
        name: the option's name in flow files (``timeout``).
        database: the stored value (``None``: the step inherits the flow's).
        file: the file's value (``None``: inherited).
    """

    flow_slug: str
    step_slug: str | None
    step_index: int | None
    name: str
    database: Any
    file: Any

    def describe(self, outcome: str) -> str:
        """Return ``flow etl: step load timeout 3 → 4 (<outcome>)``."""
        step = f"step {self.step_slug} " if self.step_slug is not None else ""
        return (
            f"flow {self.flow_slug}: {step}{self.name} {_shown(self.name, self.database)} → "
            f"{_shown(self.name, self.file)} ({outcome})"
        )


def _shown(name: str, value: Any) -> str:
    """Return option ``name``'s value as a difference line shows it."""
    if value is None:
        if name in _LIMITS:
            return NO_LIMIT
        return NO_SCHEMA if KEY[name].kind == "json_schema" else INHERITED
    if isinstance(value, dict | list | bool):  # input_schema, concurrency: compact JSON, whole
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def _changes(
    flow_slug: str, step: tuple[int, str] | None, db: dict[str, Any], file: dict[str, Any]
) -> list[OptionChange]:
    index, slug = step if step is not None else (None, None)
    return [
        OptionChange(flow_slug, slug, index, name, db.get(key), file.get(key))
        for key, name in OPTION_NAMES["flow" if step is None else "step"].items()
        if db.get(key) != file.get(key)
    ]


def option_changes(
    flow_slug: str, db_shape: dict[str, Any], file_shape: dict[str, Any]
) -> list[OptionChange]:
    """Return the option differences between two shapes (database first).

    Flow options always; step options only for steps whose slug is the same at the same index
    on both sides (other steps are already reported as shape differences).
    """
    changes = _changes(flow_slug, None, db_shape.get("options", {}), file_shape.get("options", {}))
    for index, (db_step, file_step) in enumerate(
        zip(db_shape.get("steps", []), file_shape.get("steps", []), strict=False)
    ):
        if db_step.get("slug") == file_step.get("slug"):
            step = (index, file_step["slug"])
            changes += _changes(flow_slug, step, db_step.get("options", {}), file_step["options"])
    return changes


def option_differences(db_shape: dict[str, Any], file_shape: dict[str, Any]) -> list[str]:
    """Return the option differences between two shapes as drift lines (database vs file)."""
    lines = []
    for change in option_changes("", db_shape, file_shape):
        label = (
            "options"
            if change.step_slug is None
            else f"step {change.step_index} ({change.step_slug}) options"
        )
        shown = f"{_shown(change.name, change.database)} vs {_shown(change.name, change.file)}"
        lines.append(f"{label}: {change.name} {shown}")
    return lines


def stored_options(conn: psycopg.Connection[Any], flow_slug: str) -> dict[str, Any] | None:
    """Return the options the database holds for a flow, in the shape's form (``None``: no flow).

    Read from the tables (every ``opt_<name>`` column the registry knows), which a worker login
    may read too, so this works wherever the flow definitions can be read (pgflow 0.8.1 too).
    """
    rows = queries.fetch_sync(conn, "stored_options", {"flow_slug": flow_slug})
    if not rows:
        return None

    def options(row: dict[str, Any], level: Level) -> dict[str, Any]:
        return {
            shape_key: row[f"opt_{name}"]
            for shape_key, name in OPTION_NAMES[level].items()
            if row.get(f"opt_{name}") is not None
        }

    steps = [{"slug": r["step_slug"], "options": options(r["row"], "step")} for r in rows[1:]]
    return {"options": options(rows[0]["row"], "flow"), "steps": steps}


def check_flow(conn: psycopg.Connection[Any], flow: FlowSpec) -> FlowDrift:
    """Compare one flow with the database ``conn`` is connected to."""
    shape = flow_shape(flow)
    slug = {"flow_slug": flow.slug}
    rows = queries.fetch_sync(conn, "compare_flow_shape", slug | {"shape": Jsonb(shape)})
    shape_differences = rows[0]["differences"]
    db_shape = stored_options(conn, flow.slug)
    if shape_differences is None or db_shape is None:
        return FlowDrift(flow.slug, flow.source_path, missing=True)
    differences = list(shape_differences) + option_differences(db_shape, shape)
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
