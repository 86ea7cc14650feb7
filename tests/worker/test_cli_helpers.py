"""The plain helpers behind ``pgflow start/status`` (no database)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pgflow_yaml.cli.runs import parse_input, step_rows
from pgflow_yaml.client import Run, TaskRow, check_input
from pgflow_yaml.errors import UsageError
from pgflow_yaml.model import FlowSpec, StepSpec
from pgflow_yaml.worker.errors import InvalidInput


def test_parse_input_reads_json_text_and_files(tmp_path: Path) -> None:
    source = tmp_path / "in.json"
    source.write_text('{"a": [1, 2]}')
    assert parse_input('{"a": 1}') == {"a": 1}
    assert parse_input(f"@{source}") == {"a": [1, 2]}


@pytest.mark.parametrize(
    ("text", "message"),
    [("{nope", "--input is not valid JSON"), ("@/no/such/file.json", "cannot read")],
)
def test_parse_input_errors_are_one_readable_line(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_input(text)


def test_step_rows_summarize_tasks_attempts_and_errors() -> None:
    run = Run.from_json(
        {
            "run": {"run_id": "r", "flow_slug": "f", "status": "failed"},
            "steps": [
                {
                    "step_slug": "fan",
                    "status": "failed",
                    "initial_tasks": 3,
                    "started_at": "2026-01-01T00:00:00+00:00",
                    "failed_at": "2026-01-01T00:00:02+00:00",
                },
                {"step_slug": "after", "status": "skipped", "skip_reason": "dependency_skipped"},
            ],
        }
    )
    tasks = [
        TaskRow("fan", 0, "completed", 1, None, None, None, None, None),
        TaskRow("fan", 1, "failed", 3, "ValueError: boom", None, None, None, None),
        TaskRow("fan", 2, "queued", 0, None, None, None, None, None),
    ]
    fan, after = step_rows(run, tasks)
    assert (fan["tasks_done"], fan["tasks"], fan["attempts"]) == (1, 3, 3)
    assert fan["error"] == "ValueError: boom"
    assert fan["duration"] == "2.0 s"
    assert after["skip_reason"] == "dependency_skipped" and after["tasks"] is None


def test_check_input_rejects_values_that_are_not_json() -> None:
    with pytest.raises(InvalidInput, match="of type set"):
        check_input(None, {"a": {1}})


def test_check_input_lists_every_schema_violation() -> None:
    flow = FlowSpec(
        slug="f",
        steps=(StepSpec(slug="s", handler="m:f", index=0),),
        input_schema={
            "type": "object",
            "required": ["id"],
            "properties": {"n": {"type": "integer", "minimum": 1}},
        },
    )
    with pytest.raises(InvalidInput) as info:
        check_input(flow, {"n": 0})
    assert "'id' is a required property" in str(info.value)
    assert "input['n']: 0 is less than the minimum of 1" in str(info.value)
    check_input(flow, {"id": "x", "n": 2})


CANCELLED = {
    "run": {
        "run_id": "r",
        "flow_slug": "f",
        "status": "cancelled",
        "started_at": "2026-01-01T00:00:00+00:00",
        "cancelled_at": "2026-01-01T00:00:03+00:00",
    },
    "steps": [
        {
            "step_slug": "a",
            "status": "cancelled",
            "initial_tasks": 1,
            "started_at": "2026-01-01T00:00:01+00:00",
            "cancelled_at": "2026-01-01T00:00:03+00:00",
        },
        {"step_slug": "b", "status": "cancelled", "cancelled_at": "2026-01-01T00:00:03+00:00"},
    ],
}


def test_a_cancelled_run_and_its_steps_end_when_they_were_cancelled() -> None:
    from rich.console import Console

    from pgflow_yaml.cli.common import render_run

    run = Run.from_json(CANCELLED)
    assert run.ended_at is not None
    assert run.ended_at.isoformat() == "2026-01-01T00:00:03+00:00"
    a, b = step_rows(run, [TaskRow("a", 0, "cancelled", 1, None, None, None, None, None)])
    assert (a["status"], a["duration"]) == ("cancelled", "2.0 s")  # not "until now"
    assert (b["status"], b["duration"]) == ("cancelled", "")
    console = Console(width=120, record=True)
    console.print(render_run(run, []))
    assert console.export_text().splitlines()[0] == "run r  flow f  cancelled  3.0 s"


def test_result_returns_the_output_or_raises_what_the_status_says() -> None:
    from pgflow_yaml.errors import RunCancelled, RunFailed, RunNotFinished

    def run(status: str) -> Run:
        return Run.from_json({"run": {"run_id": "r", "flow_slug": "f", "status": status}})

    done = {"run": {"run_id": "r", "flow_slug": "f", "status": "completed", "output": 0}}
    assert Run.from_json(done).result() == 0
    with pytest.raises(RunCancelled, match=r"^run r was cancelled$"):
        run("cancelled").result()
    with pytest.raises(RunNotFinished, match=r"^run r is still started: it has no result yet$"):
        run("started").result()
    with pytest.raises(RunFailed, match=r"^run r failed$") as failed:  # no error known
        run("failed").result()
    assert failed.value.error is None


@pytest.mark.parametrize(
    ("error_type", "message", "shown"),
    [
        ("builtins.ValueError", "ValueError: boom", "ValueError: boom"),
        ("e2e.CardDeclined", "CardDeclined", "CardDeclined"),
        ("TaskTimeout", "step 'a' ran past its 3 s timeout", "TaskTimeout: step 'a' ran past"),
        ("stalled", "[STALLED] worker lost 1 time", "[STALLED] worker lost 1 time"),
        (None, "Condition not met", "Condition not met"),
        ("KeyError", None, "KeyError"),
    ],
)
def test_an_error_names_its_type_once(error_type: str | None, message: str, shown: str) -> None:
    from pgflow_yaml.client import StepError

    assert StepError("s", 0, error_type, message).headline().startswith(shown)


def test_describe_names_the_step_task_and_attempts_it_knows() -> None:
    from pgflow_yaml.client import StepError

    full = StepError("load", 2, "builtins.KeyError", "KeyError: 'x'", attempt=3, max_attempts=5)
    assert full.describe() == "step load (task 2, attempt 3 of 5): KeyError: 'x'"
    assert StepError("gate", None, None, "Condition not met").describe() == (
        "step gate: Condition not met"
    )
