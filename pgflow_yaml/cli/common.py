"""What several command modules share: common options, input parsing, the views of a run.

Nothing here registers a command; ``pgflow_yaml.cli`` lists the command modules. The client
(psycopg) and rich are imported where they are used, so that ``pgflow --help`` does not pay
for them.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from pgflow_yaml.errors import WaitTimeout

if TYPE_CHECKING:
    from rich.console import Console, Group

    from pgflow_yaml.client import Client, Run, TaskRow

Dsn = Annotated[
    str | None,
    typer.Option(
        "--dsn", help="Database URL [default: $PGFLOW_DATABASE_URL, $DATABASE_URL, embedded]."
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]

STATUS_STYLE = {
    "completed": "green",
    "started": "yellow",
    "created": "dim",
    "queued": "dim",
    "failed": "red",
    "skipped": "magenta",
    "cancelled": "red",
}


def wide_console(stderr: bool = False) -> Console:
    """Return a console; when not printing to a terminal, wide enough for whole run ids."""
    from rich.console import Console

    console = Console(stderr=stderr)
    if not console.is_terminal:
        console.width = 160
    return console


def parse_input(text: str) -> Any:
    """Parse ``--input``: a JSON text, or ``@path`` to read it from a file (``@-``: stdin).

    Raises:
        typer.BadParameter: unreadable file or invalid JSON, said in one line.
    """
    source = "--input"
    if text.startswith("@"):
        path = text[1:]
        try:
            text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise typer.BadParameter(f"cannot read {path}: {exc.strerror or exc}") from None
        source = path
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(
            f"{source} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None


def print_json(value: Any) -> None:
    """Print ``value`` as indented JSON on stdout."""
    typer.echo(json.dumps(value, indent=2, default=str, ensure_ascii=False))


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


def render_run(run: Run, tasks: list[TaskRow], *, tracebacks: bool = False) -> Group:
    """Return the rich view of a run: a header line, one table row per step, then the errors of
    the tasks that did not complete (with their tracebacks when ``tracebacks``)."""
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
    parts: list[Any] = [head, table]
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
