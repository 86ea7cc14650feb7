"""Compile a validated flow into a plain SQL migration.

The migration is what any migration tool can apply (psql, Supabase, Alembic, Flyway): a header
naming the source and its sha256, a shape guard, ``select pgflow.create_flow(...)`` with the
flow's options stated explicitly, then one ``select pgflow.add_step(...)`` per step in list
order, with named arguments. Every literal, slug and JSON pattern goes through
:func:`quote_literal`. The same flow and timestamp give the same bytes.

A flow that uses only what pgflow 0.8.1 has compiles to calls 0.8.1 has; the shape guard calls
``pgflow.assert_flow_shape`` only where it exists, and the last block stores the flow's
``input_schema`` (or removes a stored one) only where ``pgflow.create_flow`` takes one, so such
a file installs on a 0.8.1 database too (which then keeps no input_schema: clients starting the
flow by slug cannot check inputs there). A flow ``concurrency`` limit is set by the
``create_flow`` call itself (it needs the pgflow-yaml core); a flow without one removes a stored
limit in a block of its own, again only where ``create_flow`` takes a ``concurrency_limit``.
Nothing here touches a database.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pgflow_yaml import __version__
from pgflow_yaml.diagnostics import visible
from pgflow_yaml.errors import CompileError as CompileError
from pgflow_yaml.model import FlowSpec, StepSpec
from pgflow_yaml.options import (
    FLOW_OPTIONS,
    KEY,
    STEP_OPTIONS,
    Key,
    Level,
    flow_control_keys,
    stored_values,
)
from pgflow_yaml.shape import flow_shape
from pgflow_yaml.subflows import subflow_levels
from pgflow_yaml.validate import ValidationReport, validate_paths

TIMESTAMP_FORMAT = "%Y%m%d%H%M%S"
GUARD_TAG = "pgflow_guard"
INPUT_SCHEMA_TAG = "pgflow_input_schema"
CONCURRENCY_TAG = "pgflow_concurrency"
FLOW_CONTROL_TAG = "pgflow_flow_control"
SCHEDULES_TAG = "pgflow_schedules"
_TIMESTAMP = re.compile(r"^[0-9]{14}$")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True)
class CompiledMigration:
    """One flow compiled to SQL.

    Attributes:
        filename: ``<yyyymmddHHMMSS>_create_<flow_slug>_flow.sql``.
        sql: the migration text (UTF-8, ``\\n`` line ends, ending with a newline).
        flow_slug: the flow it creates.
        extensions: what it needs beyond pgflow 0.8.1 (empty: it installs on 0.8.1 too).
    """

    filename: str
    sql: str
    flow_slug: str
    extensions: tuple[str, ...] = ()


def quote_literal(value: str) -> str:
    """Return ``value`` as a SQL string literal that reads back as exactly ``value``.

    Quotes are doubled; a value holding a backslash is written as an escape string
    (``E'...'``, backslashes doubled) so it reads the same whatever
    ``standard_conforming_strings`` says, as PostgreSQL's own ``quote_literal`` does.

    Raises:
        CompileError: the value holds a NUL character or a lone surrogate, which PostgreSQL
            text cannot store.
    """
    if "\x00" in value:
        raise CompileError(f"{value!r} holds a NUL character, which PostgreSQL text cannot store")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise CompileError(f"{value!r} is not valid Unicode text ({exc.reason})") from None
    body = value.replace("'", "''")
    if "\\" in body:
        return "E'" + body.replace("\\", "\\\\") + "'"
    return "'" + body + "'"


def _check_json_strings(value: Any) -> None:
    if isinstance(value, str):
        if "\x00" in value:
            raise CompileError(
                f"{value!r} holds a NUL character, which PostgreSQL jsonb cannot store"
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_json_strings(key)
            _check_json_strings(item)
    elif isinstance(value, list):
        for item in value:
            _check_json_strings(item)


def json_text(value: Any) -> str:
    """Return ``value`` as compact, deterministic JSON text (key order kept, Unicode as is).

    Raises:
        CompileError: the value is not JSON (NaN, infinity, an object of another type) or
            holds a NUL character.
    """
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise CompileError(f"cannot write {value!r} as JSON: {exc}") from None
    if "\\u0000" in text:  # json escapes NUL so; walk the value only then (it is rare)
        _check_json_strings(value)
    return text


def quote_json(value: Any) -> str:
    """Return ``value`` as a ``jsonb`` SQL literal."""
    return f"{quote_literal(json_text(value))}::jsonb"


def _quote_array(values: Iterable[str]) -> str:
    return "array[" + ", ".join(quote_literal(v) for v in values) + "]::text[]"


def _named(arguments: list[tuple[str, str]]) -> str:
    return ", ".join(f"{name} => {value}" for name, value in arguments)


def _call(function: str, arguments: list[tuple[str, str]]) -> str:
    return f"select {function}({_named(arguments)});"


def check_timestamp(timestamp: str) -> str:
    """Return ``timestamp`` when it is a real ``yyyymmddHHMMSS`` instant.

    Raises:
        CompileError: it is not 14 digits or not a valid date and time.
    """
    if not _TIMESTAMP.match(timestamp):
        raise CompileError(f"timestamp {timestamp!r} is not YYYYMMDDHHMMSS (14 digits)")
    try:
        datetime.strptime(timestamp, TIMESTAMP_FORMAT)
    except ValueError:
        raise CompileError(f"timestamp {timestamp!r} is not a valid date and time") from None
    return timestamp


def utc_timestamp(now: datetime | None = None) -> str:
    """Return the current (or given) instant as a UTC ``yyyymmddHHMMSS`` string."""
    moment = now or datetime.now(UTC)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime(TIMESTAMP_FORMAT)


def _seconds_later(timestamp: str, seconds: int) -> str:
    """Return the ``yyyymmddHHMMSS`` instant ``seconds`` after ``timestamp``."""
    if not seconds:
        return timestamp
    moment = datetime.strptime(timestamp, TIMESTAMP_FORMAT) + timedelta(seconds=seconds)
    return moment.strftime(TIMESTAMP_FORMAT)


def migration_filename(flow_slug: str, timestamp: str) -> str:
    """Return ``<timestamp>_create_<flow_slug>_flow.sql``."""
    return f"{check_timestamp(timestamp)}_create_{flow_slug}_flow.sql"


def _uses_conditions(step: StepSpec) -> bool:
    return step.if_ is not None or step.if_not is not None


def _uses_when_exhausted(step: StepSpec) -> bool:
    return step.when_exhausted not in (None, KEY["when_exhausted"].default)


def uses_flow_control(flow: FlowSpec) -> bool:
    """Return True when the flow sets a priority, a concurrency or a rate limit anywhere.

    Only then do its ``create_flow`` / ``add_step`` calls carry those arguments (pgflow 0.8.1
    has none of them), each stated explicitly (null: none) so that a change applies in place;
    otherwise a guarded block resets any stored earlier (:func:`_no_flow_control`).
    """
    # (a flow's own concurrency limits its runs, not tasks: _concurrency_arguments)
    if any(flow.option(key.name) != key.default for key in flow_control_keys("flow")):
        return True
    return any(
        step.option(key.name) is not None
        for key in flow_control_keys("step")
        for step in flow.steps
    )


def _flow_control(key: Key, level: Level) -> bool:
    return key in flow_control_keys(level)


def _sql_value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return quote_literal(value)
    return str(int(value))


def extensions_needed(flow: FlowSpec) -> tuple[str, ...]:
    """Return what the flow needs beyond pgflow 0.8.1, each naming its steps.

    Conditions (``if``/``if_not`` with ``when_unmet``), a ``when_exhausted`` other than
    ``fail`` (0.8.1's only behaviour) and any option the registry marks ``needs_core`` need
    the pgflow-yaml core; everything else is 0.8.1.
    """
    needs: list[str] = []
    conditional = [s.slug for s in flow.steps if _uses_conditions(s)]
    if conditional:
        needs.append(f"conditions (if/if_not, when_unmet) on {', '.join(conditional)}")
    signals = [s.slug for s in flow.steps if s.is_signal]
    if signals:
        needs.append(f"signal on {', '.join(signals)}")
    subflows = [s.slug for s in flow.steps if s.is_subflow]
    if subflows:
        needs.append(f"flow (sub-flow steps) on {', '.join(subflows)}")
    exhausting = [s.slug for s in flow.steps if _uses_when_exhausted(s)]
    if exhausting:
        needs.append(f"when_exhausted on {', '.join(exhausting)}")
    for key in FLOW_OPTIONS:
        if key.needs_core and flow.option(key.name) != key.default:
            needs.append(f"{key.name} on the flow")
    if flow.schedules:
        needs.append("schedules: " + ", ".join(schedule.name for schedule in flow.schedules))
    for key in STEP_OPTIONS:
        setting = [s.slug for s in flow.steps if s.option(key.name) is not None]
        if key.needs_core and setting:
            needs.append(f"{key.name} on {', '.join(setting)}")
    return tuple(needs)


def _comment(text: str) -> str:
    """Return ``text`` safe inside a ``--`` comment.

    Line breaks and other control characters are shown as ``\\xNN``, never acted on, by
    PostgreSQL (a line break would end the comment) or by a terminal showing the file.
    """
    return visible(text.replace("\r", "\\x0d").replace("\n", "\\x0a"))


def _option_text(options: list[tuple[str, Any]]) -> str:
    return ", ".join(f"{name} {value}" for name, value in options if value is not None)


def _argument(key: Key) -> str:
    """Return the SQL argument that carries option ``key``."""
    assert key.sql_argument is not None, f"option {key.name} has no SQL argument"
    return key.sql_argument


def _header(flow: FlowSpec, extensions: tuple[str, ...]) -> list[str]:
    source = _comment(flow.source_path or "<no file>")
    digest = flow.source_sha256 or "unknown"
    lines = [
        f"-- compiled by pgflow-yaml {__version__} from {source} (sha256 {digest}); do not edit",
        "--",
        f"-- flow {flow.slug}: {len(flow.steps)} step{'s' if len(flow.steps) != 1 else ''}",
    ]
    if flow.description:
        lines += [f"--   {_comment(line)}".rstrip() for line in _LINE_BREAK.split(flow.description)]
    integers = [
        (key.name, flow.option(key.name))
        for key in FLOW_OPTIONS
        if key.kind == "integer"
        and not (_flow_control(key, "flow") and not uses_flow_control(flow))
    ]
    lines.append("-- options: " + _option_text(integers))
    if flow.concurrency is not None:
        limit = flow.concurrency
        per = f" per {_comment(limit['key'])}" if "key" in limit else ""
        lines.append(f"-- concurrency: at most {limit['limit']} runs in progress{per}")
    for step in flow.steps:
        own = _option_text(
            [
                (key.name, _comment(json_text(value)) if isinstance(value, dict) else value)
                for key in STEP_OPTIONS
                for value in [step.option(key.name)]
            ]
        )
        if own:
            lines.append(f"--   step {step.slug}: {own}")
    lines += [
        "-- Option changes are applied (pgflow-yaml core): run against a database holding this",
        "-- flow with the same shape, this sets its retries, delays, timeouts, input_schema,",
        "-- concurrency limit, priorities and step limits.",
        "-- A different shape (steps, order, types, dependencies, conditions) aborts before",
        "-- anything changes; evolve such a flow under a new slug (docs/evolving-flows.md).",
    ]
    if extensions:
        lines.append("-- Needs the pgflow-yaml core (not in pgflow 0.8.1):")
        lines += [f"--   {_comment(need)}" for need in extensions]
    else:
        lines.append("-- Uses only what pgflow 0.8.1 has: installs on pgflow 0.8.1 too.")
    lines.append("-- Apply in one transaction (psql -v ON_ERROR_STOP=1 --single-transaction -f).")
    return lines


def _do_block(name: str, condition: list[str], call: str) -> list[str]:
    """Return ``do $name$ begin if <condition> then <call> end if; end $name$;``.

    The dollar-quote tag gets a numeric suffix when ``call`` holds it (a slug or a JSON value
    can), so the block always ends where it should.
    """
    tag = name
    suffix = 0
    while f"${tag}$" in call:
        suffix += 1
        tag = f"{name}_{suffix}"
    return [f"do ${tag}$", "begin", *condition, call, "  end if;", "end", f"${tag}$;"]


def _guard(flow: FlowSpec) -> list[str]:
    call = (
        f"    perform pgflow.assert_flow_shape({quote_literal(flow.slug)}, "
        f"{quote_json(flow_shape(flow))});"
    )
    return [
        "-- Shape guard: fails, listing every difference, when the database holds this flow",
        "-- with another shape (skipped where pgflow.assert_flow_shape does not exist).",
        *_do_block(
            GUARD_TAG,
            ["  if to_regprocedure('pgflow.assert_flow_shape(text, jsonb)') is not null then"],
            call,
        ),
    ]


def _input_schema(flow: FlowSpec) -> list[str]:
    """Return the block that stores the flow's input_schema, or removes a stored one.

    It runs only where ``pgflow.create_flow`` has an ``input_schema`` parameter (the
    pgflow-yaml core 0.3.0 on), so the file still installs on pgflow 0.8.1.
    """
    schema = flow.input_schema
    value = "null" if schema is None else quote_json(schema)
    call = (
        f"    perform pgflow.create_flow(flow_slug => {quote_literal(flow.slug)}, "
        f"input_schema => {value});"
    )
    what = (
        "-- No input_schema: removes one stored earlier"
        if schema is None
        else "-- Input schema: stored with the flow; clients check each run's input against it"
    )
    return [
        what,
        "-- (skipped where pgflow.create_flow takes no input_schema, as in pgflow 0.8.1).",
        *_do_block(
            INPUT_SCHEMA_TAG,
            [
                "  if exists (",
                "    select 1 from pg_catalog.pg_proc as p",
                "    where p.pronamespace = 'pgflow'::regnamespace and p.proname = 'create_flow'",
                "      and 'input_schema' = any (p.proargnames)",
                "  ) then",
            ],
            call,
        ),
    ]


def _schedules(flow: FlowSpec) -> list[str]:
    items = [schedule.to_json() for schedule in flow.schedules]
    call = f"    perform pgflow.set_schedules({quote_literal(flow.slug)}, {quote_json(items)});"
    names = ", ".join(schedule.name for schedule in flow.schedules) or "none"
    return [
        f"-- Schedules ({_comment(names)}): exactly these, upserted by name, others removed",
        "-- (skipped where pgflow.set_schedules does not exist, as on pgflow 0.8.1).",
        *_do_block(
            SCHEDULES_TAG,
            ["  if to_regprocedure('pgflow.set_schedules(text, jsonb)') is not null then"],
            call,
        ),
    ]


def _concurrency_arguments(flow: FlowSpec) -> list[tuple[str, str]]:
    """Return the ``create_flow`` arguments of the flow's runs limit (none: no limit)."""
    limit = flow.concurrency
    if limit is None:
        return []
    key = limit.get("key")
    return [
        (_argument(KEY["concurrency"]), str(int(limit["limit"]))),
        ("concurrency_key", "null" if key is None else quote_literal(key)),
    ]


def _create_flow(flow: FlowSpec) -> str:
    return _call(
        "pgflow.create_flow",
        [
            ("flow_slug", quote_literal(flow.slug)),
            *[
                (_argument(key), str(int(flow.option(key.name))))
                for key in FLOW_OPTIONS
                if key.kind == "integer"  # input_schema: in its own block (_input_schema)
                and not _flow_control(key, "flow")
            ],
            *(
                [
                    (
                        _argument(key),
                        # the default is stored as null, as the shape leaves it out
                        _sql_value(None if value == key.default else value),
                    )
                    for key in FLOW_OPTIONS
                    # (a flow's concurrency limits its runs: _concurrency_arguments)
                    if _flow_control(key, "flow")
                    for value in [flow.option(key.name)]
                ]
                if uses_flow_control(flow)
                else []
            ),
            *_concurrency_arguments(flow),
        ],
    )


def _no_concurrency(flow: FlowSpec) -> list[str]:
    """Return the block that removes a stored runs limit of a flow that has none now.

    It runs only where ``pgflow.create_flow`` has a ``concurrency_limit`` parameter (the
    pgflow-yaml core 0.3.0 on), so the file still installs on pgflow 0.8.1.
    """
    call = (
        f"    perform pgflow.create_flow(flow_slug => {quote_literal(flow.slug)}, "
        "concurrency_limit => null);"
    )
    return [
        "-- No concurrency limit: removes one stored earlier, starting the runs it queued",
        "-- (skipped where pgflow.create_flow takes no concurrency_limit, as in pgflow 0.8.1).",
        *_do_block(
            CONCURRENCY_TAG,
            [
                "  if exists (",
                "    select 1 from pg_catalog.pg_proc as p",
                "    where p.pronamespace = 'pgflow'::regnamespace and p.proname = 'create_flow'",
                "      and 'concurrency_limit' = any (p.proargnames)",
                "  ) then",
            ],
            call,
        ),
    ]


def _no_flow_control(flow: FlowSpec) -> list[str]:
    """Return the block that resets the priorities and step limits of a flow that has none now.

    It sets the flow's priority and every step's flow-control options to null in place (each
    add_step given its step's shape, so the shape check passes). It runs only where
    ``pgflow.add_step`` has a ``rate_per`` parameter (the pgflow-yaml core 0.3.0 on), so the
    file still installs on pgflow 0.8.1.
    """
    nulls = [
        (field, "null")
        for key in flow_control_keys("step")
        for field in stored_values(key, None, "step")
    ]
    slug = quote_literal(flow.slug)
    calls = [f"    perform pgflow.create_flow(flow_slug => {slug}, priority => null);"]
    calls += [
        f"    perform pgflow.add_step({_named(arguments)});"
        for step in flow.steps
        for arguments in [[*_step_identity(flow, step), *_step_shape(step), *nulls]]
    ]
    return [
        "-- No priority or step limit: resets any stored earlier, in place",
        "-- (skipped where pgflow.add_step takes no rate_per, as in pgflow 0.8.1).",
        *_do_block(
            FLOW_CONTROL_TAG,
            [
                "  if exists (",
                "    select 1 from pg_catalog.pg_proc as p",
                "    where p.pronamespace = 'pgflow'::regnamespace and p.proname = 'add_step'",
                "      and 'rate_per' = any (p.proargnames)",
                "  ) then",
            ],
            "\n".join(calls),
        ),
    ]


def _step_identity(flow: FlowSpec, step: StepSpec) -> list[tuple[str, str]]:
    arguments = [("flow_slug", quote_literal(flow.slug)), ("step_slug", quote_literal(step.slug))]
    if step.deps:
        arguments.append(("deps_slugs", _quote_array(step.deps)))
    return arguments


def _step_shape(step: StepSpec) -> list[tuple[str, str]]:
    """Return the add_step arguments that are the step's shape besides its dependencies."""
    arguments = [("step_type", quote_literal(step.step_type))]
    if step.if_ is not None:
        arguments.append(("required_input_pattern", quote_json(step.if_)))
    if step.if_not is not None:
        arguments.append(("forbidden_input_pattern", quote_json(step.if_not)))
    if _uses_conditions(step):
        arguments.append(("when_unmet", quote_literal(step.when_unmet or "skip")))
    if _uses_when_exhausted(step):
        arguments.append(("when_exhausted", quote_literal(str(step.when_exhausted))))
    if step.is_signal:
        arguments.append((_argument(KEY["signal"]), quote_json(step.signal_schema)))
    if step.child_flow is not None:
        arguments.append((_argument(KEY["flow"]), quote_literal(step.child_flow)))
    return arguments


def _add_step(flow: FlowSpec, step: StepSpec) -> str:
    arguments = _step_identity(flow, step)
    # every option, null (inherit the flow's) included: add_step keeps the stored value of an
    # option it is not given, so an option removed from the file must be reset explicitly
    controlled = uses_flow_control(flow)
    for key in STEP_OPTIONS:
        value = step.option(key.name)
        if not _flow_control(key, "step"):
            arguments.append((_argument(key), "null" if value is None else str(int(value))))
        elif controlled:  # every stored field, null included, so a removed limit is reset
            arguments += [
                (field, _sql_value(stored))
                for field, stored in stored_values(key, value, "step").items()
            ]
    arguments += _step_shape(step)
    return _call("pgflow.add_step", arguments)


def compile_flow(flow: FlowSpec, *, timestamp: str) -> CompiledMigration:
    """Compile one validated flow into a migration.

    Args:
        flow: a flow built by the validator (or by hand from validated data).
        timestamp: the UTC ``yyyymmddHHMMSS`` that names the file (:func:`utc_timestamp`).

    Raises:
        CompileError: the timestamp is malformed, or a value cannot be stored by PostgreSQL
            (a NUL character, a lone surrogate, NaN in a pattern).
    """
    filename = migration_filename(flow.slug, timestamp)
    extensions = extensions_needed(flow)
    lines = _header(flow, extensions)
    lines.append("")
    lines += _guard(flow)
    lines.append("")
    lines.append(_create_flow(flow))
    lines += [_add_step(flow, step) for step in flow.steps]
    lines.append("")
    lines += _input_schema(flow)
    lines.append("")
    if flow.concurrency is None:
        lines += _no_concurrency(flow)
        lines.append("")
    if not uses_flow_control(flow):
        lines += _no_flow_control(flow)
        lines.append("")
    lines += _schedules(flow)
    return CompiledMigration(
        filename=filename,
        sql="\n".join(lines) + "\n",
        flow_slug=flow.slug,
        extensions=extensions,
    )


@dataclass(frozen=True)
class CompileResult:
    """What compiling a set of flow files gave.

    Attributes:
        report: the validation of every file (the diagnostics ``pgflow validate`` shows).
        migrations: one per flow, in file order except that a flow comes after the flows its
            sub-flow steps run (its file named that many seconds later, so children are
            created first); empty when any file is invalid or any flow
            failed to compile, so that a broken set never yields a partial set of files.
        errors: why a valid flow could not be compiled, one line each.
    """

    report: ValidationReport
    migrations: tuple[CompiledMigration, ...] = ()
    errors: tuple[str, ...] = ()

    @property
    def exit_code(self) -> int:
        """Return the validation exit code (0, 1 or 2), or 1 when a flow failed to compile."""
        if not self.report.ok:
            return self.report.exit_code
        return 1 if self.errors else 0


def compile_paths(
    paths: Sequence[str | os.PathLike[str]], *, timestamp: str | None = None
) -> CompileResult:
    """Validate flow files and folders, then compile every flow (all or nothing).

    Args:
        paths: flow files and folders, as ``pgflow validate`` takes them.
        timestamp: the UTC ``yyyymmddHHMMSS`` naming the files; now when ``None``.

    Raises:
        CompileError: the timestamp is malformed (checked before any file is read).
    """
    stamp = check_timestamp(timestamp) if timestamp is not None else utc_timestamp()
    report = validate_paths(paths)
    if not report.ok:
        return CompileResult(report)
    migrations: list[CompiledMigration] = []
    errors: list[str] = []
    producers: dict[str, str] = {}
    # a flow that runs others (sub-flow steps) comes after them: its level's seconds later
    levels = subflow_levels(report.flows)
    for flow in sorted(report.flows, key=lambda f: levels[f.slug]):
        source = flow.source_path or flow.slug
        try:
            migration = compile_flow(flow, timestamp=_seconds_later(stamp, levels[flow.slug]))
        except CompileError as exc:
            errors.append(f"{source}: cannot compile flow {flow.slug}: {exc}")
            continue
        if migration.filename in producers:
            errors.append(
                f"{source}: compiles to {migration.filename}, as {producers[migration.filename]}"
                " does"
            )
            continue
        producers[migration.filename] = source
        migrations.append(migration)
    if errors:
        return CompileResult(report, errors=tuple(errors))
    return CompileResult(report, tuple(migrations))


@dataclass(frozen=True)
class WrittenMigration:
    """Where a migration went.

    Attributes:
        path: the file holding it.
        written: False when ``path`` is the flow's latest migration already there with the
            same SQL, so nothing was written (compiling an unchanged flow adds no file).
        shape_changed_from: the flow's previous migration in the folder, when the new one
            declares another shape (its shape guard will stop it wherever that one ran).
    """

    path: Path
    written: bool
    shape_changed_from: Path | None = None


_GUARD_CALL = re.compile(
    r"^ *perform pgflow\.assert_flow_shape\((E?'(?:[^']|'')*'), (E?'(?:[^']|'')*')::jsonb\);$",
    re.MULTILINE,
)


def _unquote(literal: str) -> str:
    """Read back a literal written by :func:`quote_literal`."""
    escaped = literal.startswith("E")
    body = literal[2:-1] if escaped else literal[1:-1]
    body = body.replace("''", "'")
    return body.replace("\\\\", "\\") if escaped else body


def recorded_shape(sql: str) -> dict[str, Any] | None:
    """Return the shape a compiled migration's guard asserts, or ``None`` when it has none."""
    found = _GUARD_CALL.search(sql)
    if found is None:
        return None
    try:
        shape = json.loads(_unquote(found.group(2)))
    except ValueError:
        return None
    return shape if isinstance(shape, dict) else None


def _without_options(shape: dict[str, Any]) -> dict[str, Any]:
    steps = [{k: v for k, v in step.items() if k != "options"} for step in shape.get("steps", [])]
    return {"steps": steps}


def shape_changed(earlier_sql: str, sql: str) -> bool:
    """Return True when two compiled migrations of a flow declare different shapes.

    Options are not shape (they change in place); a migration without a readable guard is
    taken as unchanged.
    """
    before, after = recorded_shape(earlier_sql), recorded_shape(sql)
    if before is None or after is None:
        return False
    return _without_options(before) != _without_options(after)


def latest_migration(out_dir: Path, flow_slug: str) -> Path | None:
    """Return the newest ``<timestamp>_create_<flow_slug>_flow.sql`` in ``out_dir``, if any."""
    pattern = re.compile(rf"[0-9]{{14}}_create_{re.escape(flow_slug)}_flow\.sql")
    if not out_dir.is_dir():
        return None
    found = sorted(p.name for p in out_dir.iterdir() if pattern.fullmatch(p.name))
    return out_dir / found[-1] if found else None


def write_migrations(
    migrations: Iterable[CompiledMigration], out_dir: Path
) -> list[WrittenMigration]:
    """Write each migration into ``out_dir`` (created if needed), unless it is already there.

    A flow whose newest migration in ``out_dir`` holds the same SQL gets no new file; any
    change (options included) gets a new one, to apply after the earlier ones, and is marked
    ``shape_changed_from`` that one when its shape differs. The bytes are exactly
    ``migration.sql`` in UTF-8: no newline translation on any platform.

    Raises:
        OSError: the folder cannot be created or a file cannot be read or written.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    results = []
    for migration in migrations:
        data = migration.sql.encode("utf-8")
        latest = latest_migration(out_dir, migration.flow_slug)
        earlier = latest.read_bytes() if latest is not None else None
        if earlier == data:
            results.append(WrittenMigration(latest or out_dir, written=False))
            continue
        path = out_dir / migration.filename
        path.write_bytes(data)
        changed = (
            latest
            if latest is not None
            and latest != path
            and earlier is not None
            and shape_changed(earlier.decode("utf-8", "replace"), migration.sql)
            else None
        )
        results.append(WrittenMigration(path, written=True, shape_changed_from=changed))
    return results
