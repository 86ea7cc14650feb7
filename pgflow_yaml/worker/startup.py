"""Before the first claim: load the flow files, import every handler, check the database.

Each step stops the worker with one error listing every problem it found (every invalid
file, every handler path that does not import, every difference of shape), so a user fixes
them all in one go. Handlers come only from the worker's own flow files.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from pgflow_yaml import queries
from pgflow_yaml.model import FlowSpec
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
            if step.handler is None:  # a signal step: no code runs it
                continue
            where = f"{flow.source_path or flow.slug}: step {step.slug!r} handler {step.handler!r}"
            try:
                fn = import_handler(step.handler, search_paths)
                handlers[(flow.slug, step.slug)] = Handler.inspect(step.handler, fn)
            except (HandlerImportError, TypeError) as exc:
                problems.append(f"  {where}: {exc}")
    if problems:
        raise HandlerImportErrors(
            f"{len(problems)} handler(s) cannot be imported:\n" + "\n".join(problems)
        )
    return handlers


def verify_shapes(
    conn: psycopg.Connection[Any], flows: Iterable[FlowSpec], *, apply: bool = False
) -> list[str]:
    """Check that the database holds each flow with the same shape; return the flows installed.

    With ``apply``, a flow missing from the database is installed by running its compiled
    migration. A database without ``compare_flow_shape`` (pgflow 0.8.1) only gets the
    existence check.

    ``conn`` must be in autocommit mode.

    Raises:
        ShapeMismatch: a flow is missing (without ``apply``) or differs; every one is listed.
        CoreMissing: the database has no pgflow core.
    """
    from pgflow_yaml.shape import flow_shape

    problems: list[str] = []
    installed: list[str] = []
    for flow in flows:
        try:
            rows = queries.fetch_sync(
                conn,
                "compare_flow_shape",
                {"flow_slug": flow.slug, "shape": Jsonb(flow_shape(flow))},
            )
            differences = rows[0]["differences"]
        except CoreMissing:  # pgflow 0.8.1 has no compare_flow_shape: check existence only
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
                installed.append(flow.slug)
                continue
            problems.append(
                f"  flow {flow.slug!r} is not in the database: apply its migration "
                "(`pgflow compile`) or start the worker with --apply"
            )
        elif differences:
            where = flow.source_path or flow.slug
            problems.append(
                f"  flow {flow.slug!r} ({where}) differs from the database:\n"
                + "\n".join(f"    - {line}" for line in differences)
            )
    if problems:
        raise ShapeMismatch(
            "the database does not hold the flows of these files:\n" + "\n".join(problems)
        )
    return installed


def install_flow(conn: psycopg.Connection[Any], flow: FlowSpec) -> None:
    """Run the compiled migration of ``flow`` in one transaction.

    Raises:
        DatabaseError: the database refused it (e.g. a shape guard fired).
    """
    from pgflow_yaml.compiler import compile_flow, utc_timestamp

    migration = compile_flow(flow, timestamp=utc_timestamp())
    with queries.translated(), conn.transaction():
        conn.execute(migration.sql.encode())  # C's compiled migration, run as written
    log.info("flow installed", extra={"action": "flow_installed", "flow_slug": flow.slug})
