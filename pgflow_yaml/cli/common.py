"""What several command modules share: common options, input parsing, the views of a run.

Nothing here registers a command; ``pgflow_yaml.cli`` lists the command modules. The client
(psycopg) and rich are imported where they are used, so that ``pgflow --help`` does not pay
for them.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperArgument, TyperGroup

from pgflow_yaml.errors import UsageError, WaitTimeout

if TYPE_CHECKING:
    from rich.console import Console, Group

    from pgflow_yaml.client import Client, Run, RunSummary, TaskRow

DSN_HELP = "Database URL (default: $PGFLOW_DATABASE_URL, else $DATABASE_URL, else embedded)."
Dsn = Annotated[str | None, typer.Option("--dsn", help=DSN_HELP)]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]

# Placeholders of option values, when the option's name does not say it (UPPER_CASE, one style).
METAVARS = {
    "paths": "PATH",
    "dsn": "URL",
    "input": "JSON",
    "timeout": "SECONDS",
    "grace_period": "SECONDS",
    "poll_interval": "SECONDS",
    "heartbeat_interval": "SECONDS",
    "requeue_interval": "SECONDS",
    "concurrency": "N",
    "limit": "N",
    "batch_size": "N",
    "older_than": "INTERVAL",
    "pause": "SECONDS",
    "log_format": "FORMAT",
    "log_level": "LEVEL",
    "data_dir": "DIR",
    "out_dir": "DIR",
    "output_format": "FORMAT",
    "diagnostics": "FORMAT",
}
# Every command's help is wrapped, never cut, at the terminal's width up to this many columns.
HELP_WIDTH = 100
STATUS_STYLE = {
    "completed": "green",
    "started": "yellow",
    "waiting": "cyan",
    "created": "dim",
    "queued": "dim",
    "failed": "red",
    "skipped": "magenta",
    "cancelled": "red",
}


class _Argument(TyperArgument):
    """An argument shown by its placeholder alone (``PATH...``), as options are."""

    def display_type_rich(self, ctx: Any) -> str | None:  # typer >= 0.2x: no "<list[Path]>"
        return None

    def _usage_display_name(self) -> str:  # typer >= 0.2x: "PATH..." rather than "{PATH}..."
        name = self.metavar or (self.name or "").upper()
        name = name if self.required else f"[{name}]"
        return name + ("..." if self.nargs != 1 else "")


def plain_help(command: Any) -> None:
    """Give every parameter of ``command`` (and of its subcommands) an UPPER_CASE placeholder.

    An option's value is shown as ``METAVARS[name]``, else its name in capitals
    (``--flow FLOW``); an argument as its name in capitals (``PATH...``).
    """
    for param in command.params:
        if param.metavar is None and not getattr(param, "is_flag", False):
            param.metavar = METAVARS.get(param.name or "", (param.name or "").upper())
        if isinstance(param, TyperArgument):
            param.__class__ = _Argument
    for sub in getattr(command, "commands", {}).values():
        plain_help(sub)


class HelpGroup(TyperGroup):
    """A group whose help lists each command's first sentence whole, wrapped, never cut."""

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=1000)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def wide_console(stderr: bool = False) -> Console:
    """Return a console; when not printing to a terminal, wide enough for whole run ids."""
    from rich.console import Console

    console = Console(stderr=stderr)
    if not console.is_terminal:
        console.width = 160
    return console


def parse_input(text: str, option: str = "--input") -> Any:
    """Parse ``--input`` (or ``option``): a JSON text, or ``@path`` to read it from a file
    (``@-``: stdin).

    Raises:
        UsageError: unreadable file or invalid JSON, said in one line.
    """
    source = option
    if text.startswith("@"):
        path = text[1:]
        try:
            text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
        source = path
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{source} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None


def json_text(value: Any) -> str:
    """Return ``value`` as indented JSON: the one encoder of every ``--json`` output.

    Timestamps are ISO 8601 (``2026-01-31T12:00:00.5+00:00``); any other value JSON lacks
    (a UUID, a path) is its text.
    """
    return json.dumps(value, indent=2, default=_json_default, ensure_ascii=False)


def _json_default(value: Any) -> Any:
    if isinstance(value, date):  # datetime too
        return value.isoformat()
    return str(value)


def no_input(flow_slug: str, input_schema: Any) -> dict[str, Any]:
    """Return ``{}``, the input of a run started without ``--input``, if the flow may take it.

    Raises:
        UsageError: the flow's input_schema requires fields, named with how to pass them.
    """
    needed = input_schema.get("required") if isinstance(input_schema, dict) else None
    if needed:
        names = [str(name) for name in needed]
        example = json.dumps({name: "..." for name in names}, ensure_ascii=False)
        raise UsageError(
            f"flow {flow_slug!r} needs an input with {', '.join(names)} (its input_schema "
            f"requires {'it' if len(names) == 1 else 'them'}): pass it with --input '{example}' "
            "or --input @input.json"
        )
    return {}


def print_json(value: Any) -> None:
    """Print ``value`` as indented JSON on stdout (see ``json_text``)."""
    typer.echo(json_text(value))


def duration(start: Any, end: Any) -> str:
    """Return the time from ``start`` to ``end`` (or now) as "850 ms" or "2.5 s"; "" if unknown."""
    begin, finish = _when(start), _when(end)
    if begin is None:
        return ""
    seconds = ((finish or datetime.now(begin.tzinfo)) - begin).total_seconds()
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


def _when(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def step_rows(run: Run, tasks: list[TaskRow]) -> list[dict[str, Any]]:
    """Summarize each step of a run: status, tasks done, most attempts, duration, its error
    (the step's, else that of its first task with an error) and that error's type."""
    by_step: dict[str, list[TaskRow]] = {}
    for task in tasks:
        by_step.setdefault(task.step_slug, []).append(task)
    rows = []
    for step in run.steps:
        own = by_step.get(step.step_slug, [])
        failed = [t for t in own if t.error_message and t.status == "failed"]
        erred = failed or [t for t in own if t.error_message]
        first = erred[0] if erred else None
        end = step.completed_at or step.failed_at or step.skipped_at or step.cancelled_at
        rows.append(
            {
                "step_slug": step.step_slug,
                "status": step.status,
                "tasks_done": sum(t.status == "completed" for t in own),
                "tasks": len(own) if own else step.initial_tasks,
                "attempts": max((t.attempts_count for t in own), default=0),
                "duration": duration(step.started_at, end),
                "error": step.error_message or (first.error_message if first else None),
                "error_type": first.error_type if first else None,
                "skip_reason": step.skip_reason,
            }
        )
    return rows


def task_errors(tasks: list[TaskRow]) -> list[dict[str, Any]]:
    """Return every task that recorded an error and did not complete after it: failed, retrying
    (queued or started again) or cancelled with its run; type, message, traceback, attempt."""
    return [
        {
            "step_slug": t.step_slug,
            "task_index": t.task_index,
            "status": t.status,
            "attempt": t.attempts_count,
            "error_type": t.error_type,
            "error_message": t.error_message,
            "error_traceback": t.error_traceback,
        }
        for t in tasks
        if t.error_message and t.status != "completed"
    ]


def error_text(error_type: str | None, message: str | None) -> str:
    """Return an error as one prints it: "ValueError: boom", naming the type once."""
    from pgflow_yaml.client import StepError

    return StepError("", None, error_type, message).headline()


def render_run(
    run: Run,
    tasks: list[TaskRow],
    *,
    tracebacks: bool = False,
    children: Sequence[RunSummary] = (),
) -> Group:
    """Return the rich view of a run: a header line, one table row per step, the ``children``
    (child runs of its sub-flow steps) by step and task, then the errors of the tasks that did
    not complete (with their tracebacks when ``tracebacks``)."""
    from rich.console import Group
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    style = STATUS_STYLE.get(run.status, "")
    head = Text.assemble(
        ("run ", "bold"),
        (run.run_id, "cyan"),
        f"  flow {run.flow_slug}  ",
        (run.status, style),
        f"  {duration(run.started_at, run.ended_at)}",
    )
    if run.parent_run_id is not None:
        head.append(
            f"\n  child of run {run.parent_run_id}, step "
            f"{run.parent_step_slug}[{run.parent_task_index}]"
        )
    table = Table(show_edge=False, pad_edge=False, expand=False)
    for column in ("step", "status", "tasks", "attempts", "duration", "error"):
        table.add_column(column, overflow="fold")
    for row in step_rows(run, tasks):
        total = "" if row["tasks"] is None else f"{row['tasks_done']}/{row['tasks']}"
        error = error_text(row["error_type"], row["error"]) if row["error"] else ""
        error = error or (f"skipped: {row['skip_reason']}" if row["skip_reason"] else "")
        table.add_row(
            escape(row["step_slug"]),
            Text(row["status"], style=STATUS_STYLE.get(row["status"], "")),
            total,
            str(row["attempts"] or ""),
            row["duration"],
            Text(error.splitlines()[0][:120] if error else ""),
        )
    parts: list[Any] = [head, table, *_child_lines(run.run_id, children)]
    erred = task_errors(tasks)
    if erred:
        parts.append(Text("task errors:", style="bold"))
    for t in erred:
        line = f"  {t['step_slug']}[{t['task_index']}] {t['status']}, attempt {t['attempt']}: "
        parts.append(Text(line + error_text(t["error_type"], t["error_message"])))
        if tracebacks and t["error_traceback"]:
            parts.append(Text(_indent(t["error_traceback"].rstrip(), "    "), style="dim"))
    if erred and not tracebacks and any(t["error_traceback"] for t in erred):
        parts.append(Text(f"(tracebacks: pgflow status {run.run_id} --tracebacks)", style="dim"))
    return Group(*parts)


_CHILDREN_SHOWN = 50


def _child_lines(run_id: str, children: Sequence[RunSummary]) -> list[Any]:
    """Return the lines listing a run's child runs under their step and task."""
    from rich.text import Text

    if not children:
        return []
    lines: list[Any] = [Text("child runs:", style="bold")]
    step = None
    for child in children[:_CHILDREN_SHOWN]:
        if child.parent_step_slug != step:
            step = child.parent_step_slug
            lines.append(Text(f"  {step}"))
        lines.append(
            Text.assemble(
                f"    [{child.parent_task_index}] ",
                (child.run_id, "cyan"),
                f"  {child.flow_slug}  ",
                (child.status, STATUS_STYLE.get(child.status, "")),
                "  "
                + duration(
                    child.started_at, child.completed_at or child.failed_at or child.cancelled_at
                ),
            )
        )
    if len(children) > _CHILDREN_SHOWN:
        more = len(children) - _CHILDREN_SHOWN
        lines.append(Text(f"  ... {more} more (pgflow runs --parent {run_id})", style="dim"))
    return lines


def _indent(text: str, prefix: str) -> str:
    return "\n".join(prefix + line for line in text.splitlines())


def watch(
    client: Client,
    run_id: str,
    console: Console,
    interval: float = 0.2,
    timeout: float | None = None,
    *,
    tracebacks: bool = False,
) -> Run:
    """Show a live view of a run until it finishes (task tracebacks too when ``tracebacks``);
    return it.

    Raises:
        WaitTimeout: the run is still going after ``timeout`` seconds.
    """
    from rich.live import Live

    deadline = None if timeout is None else time.monotonic() + timeout
    run = client.get(run_id)
    view = render_run(run, client.tasks(run_id), tracebacks=tracebacks)
    with Live(view, console=console, auto_refresh=False) as live:
        while not run.finished:
            if deadline is not None and time.monotonic() >= deadline:
                raise WaitTimeout(f"run {run_id} is still {run.status} after {timeout:g}s")
            time.sleep(interval)
            run = client.get(run_id)
            view = render_run(run, client.tasks(run_id), tracebacks=tracebacks)
            live.update(view, refresh=True)
    if not console.is_terminal:
        console.line()
    return run
