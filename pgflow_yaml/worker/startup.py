"""Before the first claim: load the flow files, import every handler, check the database.

Each step stops the worker with one error listing every problem it found (every invalid
file, every handler path that does not import, every difference of shape), so a user fixes
them all in one go. Handlers come only from the worker's own flow files.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from pgflow_yaml import queries
from pgflow_yaml.drift import OptionChange, option_changes, stored_options
from pgflow_yaml.flows import drop_flow
from pgflow_yaml.model import FlowSpec
from pgflow_yaml.shape import flow_shape
from pgflow_yaml.worker.errors import (
    CoreMissing,
    HandlerImportErrors,
    ShapeMismatch,
    StartupError,
)
from pgflow_yaml.worker.runner import Handler

log = logging.getLogger("pgflow_yaml.worker")


def load_flows(paths: Sequence[str | Path], only: Iterable[str] = ()) -> list[FlowSpec]:
    """Load and validate the flow files (directories recurse); keep the flows named in ``only``.

    The loading is :func:`pgflow_yaml.validate.load_flows`; this turns its errors into a
    :class:`StartupError`.

    Raises:
        StartupError: a file is invalid (every diagnostic listed, flow slugs that differ only
            in case included), no flow was found, or a slug of ``only`` names no loaded flow.
    """
    from pgflow_yaml.diagnostics import render_text
    from pgflow_yaml.validate import FlowSelectionError, FlowValidationError
    from pgflow_yaml.validate import load_flows as load_valid_flows

    try:
        flows = load_valid_flows([Path(p) for p in paths], only=only)
    except FlowValidationError as exc:
        rendered = render_text(exc.report.errors, exc.report.sources).rstrip()
        raise StartupError(f"the flow files are invalid:\n{rendered or '(no detail)'}") from None
    except FlowSelectionError as exc:
        raise StartupError(str(exc)) from None
    if not flows:
        raise StartupError("no flow found in " + ", ".join(str(p) for p in paths))
    return flows


def import_handlers(flows: Iterable[FlowSpec]) -> dict[tuple[str, str], Handler]:
    """Import the handler of every step, once.

    Raises:
        HandlerImportErrors: listing every step whose handler does not import or cannot be
            called as ``(input)`` / ``(input, ctx)``.
    """
    from pgflow_yaml.handlers import HandlerImportError, import_handler

    handlers: dict[tuple[str, str], Handler] = {}
    problems: list[str] = []
    for flow in flows:
        folder = Path(flow.source_path).resolve().parent if flow.source_path else Path.cwd()
        search_paths = [folder, Path.cwd()]
        for step in flow.steps:
            if step.handler is None:  # a signal or sub-flow step: no code runs it
                continue
            where = f"{flow.source_path or flow.slug}: step {step.slug!r}"
            try:
                fn = import_handler(step.handler, search_paths)
                handlers[(flow.slug, step.slug)] = Handler.inspect(step.handler, fn)
            except HandlerImportError as exc:  # as `validate --check-handlers` shows it
                hint = f"\n    hint: {exc.hint}" if exc.hint else ""
                problems.append(f"  {where}: {exc}{hint}")
            except TypeError as exc:
                problems.append(f"  {where}: handler {step.handler!r}: {exc}")
    if problems:
        raise HandlerImportErrors(
            f"{len(problems)} handler(s) cannot be imported:\n" + "\n".join(problems)
        )
    return handlers


SHAPE_WAYS_ON = (
    "  to go on: drop the flow with its runs (`pgflow flows drop SLUG`, or `pgflow run FILE "
    "--replace` on the embedded development server), then install it again; or give the changed "
    "flow a new slug (docs/evolving-flows.md)"
)
"""The last line of a shape mismatch: the ways on."""


@dataclass(frozen=True)
class StartupNote:
    """Something the start-up did or left undone that the user should read.

    Attributes:
        flow_slug: the flow it is about.
        text: one line (``flow etl: step load timeout 3 → 4 (applied)``).
        warning: True when something was left as it is (a difference not applied).
    """

    flow_slug: str
    text: str
    warning: bool = False


Replace = Callable[[FlowSpec, list[str]], bool]
"""Asked about a flow whose shape differs (with the differences): drop and reinstall it?"""


def verify_shapes(
    conn: psycopg.Connection[Any],
    flows: Iterable[FlowSpec],
    *,
    apply: bool = False,
    replace: Replace | None = None,
) -> list[StartupNote]:
    """Check that the database holds each flow as its file declares it.

    A flow missing from the database is installed with ``apply`` (its compiled migration);
    a flow whose options differ gets them changed in place with ``apply``, and a warning
    without; a flow whose shape differs is dropped and installed again when ``replace``
    says so, else it stops the start. A database without ``compare_flow_shape`` (pgflow
    0.8.1) only gets the existence and option checks.

    ``conn`` must be in autocommit mode.

    Returns:
        One note per flow installed or replaced and per option that differed (applied or not).

    Raises:
        ShapeMismatch: a flow is missing (without ``apply``) or differs in shape; every one is
            listed, with the ways on.
        CoreMissing: the database has no pgflow core.
    """
    problems: list[str] = []
    notes: list[StartupNote] = []
    for flow in flows:
        shape = flow_shape(flow)
        compares = True  # the core compares shapes (and so can change options in place)
        try:
            rows = queries.fetch_sync(
                conn, "compare_flow_shape", {"flow_slug": flow.slug, "shape": Jsonb(shape)}
            )
            differences = rows[0]["differences"]
        except CoreMissing:  # pgflow 0.8.1 has no compare_flow_shape: check existence only
            compares = False
            try:
                rows = queries.fetch_sync(conn, "flow_exists", {"flow_slug": flow.slug})
            except CoreMissing:
                raise CoreMissing(
                    "this database has no pgflow core: run `pgflow install` first"
                ) from None
            differences = [] if rows[0]["found"] else None
        if differences is None:
            if apply:
                install_flow(conn, flow)
                notes.append(StartupNote(flow.slug, f"flow {flow.slug}: installed"))
                continue
            problems.append(
                f"  flow {flow.slug!r} is not in the database: apply its migration "
                "(`pgflow compile`) or start the worker with --apply"
            )
        elif differences and replace is not None and replace(flow, list(differences)):
            drop_flow(conn, flow.slug, force=True)
            install_flow(conn, flow)
            notes.append(
                StartupNote(
                    flow.slug, f"flow {flow.slug}: dropped with its runs and installed again"
                )
            )
        elif differences:
            where = flow.source_path or flow.slug
            problems.append(
                f"  flow {flow.slug!r} ({where}) differs from the database:\n"
                + "\n".join(f"    - {line}" for line in differences)
            )
        else:
            with queries.translated():
                changes = option_changes(flow.slug, stored_options(conn, flow.slug) or {}, shape)
            notes += _option_notes(conn, flow, changes, apply=apply, in_place=compares)
    if problems:
        ways_on = [SHAPE_WAYS_ON] if any("differs from the database" in p for p in problems) else []
        raise ShapeMismatch(
            "the database does not hold the flows of these files:\n" + "\n".join(problems + ways_on)
        )
    return notes


def _option_notes(
    conn: psycopg.Connection[Any],
    flow: FlowSpec,
    changes: list[OptionChange],
    *,
    apply: bool,
    in_place: bool,
) -> list[StartupNote]:
    """Apply the option ``changes`` of ``flow`` (with ``apply``) and say what became of each.

    Never on a core that cannot change options in place (``in_place`` false: pgflow 0.8.1,
    whose ``add_step`` ignores new options and could add dependency edges to a changed shape
    that it cannot check).
    """
    if not changes:
        return []
    if not in_place:
        why = "not applied: pgflow 0.8.1 cannot change options in place"
        return [StartupNote(flow.slug, change.describe(why), warning=True) for change in changes]
    if not apply:
        why = "not applied: start with --apply, or apply the flow's compiled migration"
        return [StartupNote(flow.slug, change.describe(why), warning=True) for change in changes]
    install_flow(conn, flow)  # the compiled migration sets every option to the file's
    with queries.translated():
        left = option_changes(flow.slug, stored_options(conn, flow.slug) or {}, flow_shape(flow))
    notes = []
    for change in changes:
        if change in left:
            why = "not applied: this core cannot change options in place"
            notes.append(StartupNote(flow.slug, change.describe(why), warning=True))
        else:
            notes.append(StartupNote(flow.slug, change.describe("applied")))
    return notes


def install_flow(conn: psycopg.Connection[Any], flow: FlowSpec) -> None:
    """Run the compiled migration of ``flow`` in one transaction (the caller says what it did).

    Raises:
        DatabaseError: the database refused it (e.g. a shape guard fired).
    """
    from pgflow_yaml.compiler import compile_flow, utc_timestamp

    migration = compile_flow(flow, timestamp=utc_timestamp())
    with queries.translated(), conn.transaction():
        conn.execute(migration.sql.encode())  # C's compiled migration, run as written
