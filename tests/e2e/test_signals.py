"""Signal steps end to end: the approval example under a real worker, signalled from SQL inside
the application's transaction, from the client and from the command line."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from pgflow_yaml import InvalidInput, SignalRefused
from pgflow_yaml.cli import app
from pgflow_yaml.client import Client

from .conftest import EXAMPLES, FLOWS, StartWorker, wait_until

APPROVAL = EXAMPLES / "approval.yaml"


def _steps(client: Client, run_id: str) -> dict[str, str]:
    return {s.step_slug: s.status for s in client.get(run_id).steps}


def _waiting(client: Client, run_id: str) -> dict[str, str]:
    return wait_until(
        lambda: (steps := _steps(client, run_id))["approve"] == "waiting" and steps,
        what="the approve step to wait",
    )


def test_approval_signalled_in_the_applications_transaction(
    start_worker: StartWorker, client: Client, dsn: str
) -> None:
    start_worker(APPROVAL)
    run_id = client.start("approval", {"title": "Launch"})
    assert _waiting(client, run_id) == {
        "draft": "completed",
        "approve": "waiting",
        "publish": "created",
        "notify_rejection": "created",
    }
    with psycopg.connect(dsn) as app_conn:
        app_conn.execute("create table public.decisions (run_id uuid, approved boolean)")
        app_conn.commit()
        # the application records its decision and signals in one transaction, which fails
        app_conn.execute("insert into public.decisions values (%s, true)", (run_id,))
        outcome = app_conn.execute(
            "select pgflow.signal(%s, 'approve', %s::jsonb)",
            (run_id, '{"approved": true, "reviewer": "ada"}'),
        ).fetchone()
        assert outcome == ("completed",)
        app_conn.rollback()
        assert _steps(client, run_id)["approve"] == "waiting"
        assert client.status(run_id)[0] == "started"
        # then it succeeds: the decision and the signal commit together
        app_conn.execute("insert into public.decisions values (%s, true)", (run_id,))
        app_conn.execute(
            "select pgflow.signal(%s, 'approve', %s::jsonb)",
            (run_id, '{"approved": true, "reviewer": "ada"}'),
        )
        app_conn.commit()
    run = client.wait(run_id, 30)
    assert run.status == "completed"
    assert run.output == {
        "publish": {"published": "Launch", "approved_by": "ada"},
    }
    assert _steps(client, run_id) == {
        "draft": "completed",
        "approve": "completed",
        "publish": "completed",
        "notify_rejection": "skipped",
    }


def test_client_refuses_a_wrong_payload_and_the_step_keeps_waiting(
    start_worker: StartWorker, client: Client
) -> None:
    start_worker(APPROVAL)
    run_id = client.start("approval", {"title": "Draft"})
    _waiting(client, run_id)
    with pytest.raises(InvalidInput) as err:
        client.signal(run_id, "approve", {"approved": "yes"})
    assert str(err.value) == (
        "the payload does not match the signal schema of step 'approve':\n"
        "  payload['approved']: 'yes' is not of type 'boolean'"
    )
    assert _steps(client, run_id)["approve"] == "waiting"
    assert client.signal(run_id, "approve", {"approved": False, "note": "too long"}) == "completed"
    run = client.wait(run_id, 30)
    assert run.output == {"notify_rejection": {"rejected": True, "note": "too long"}}
    with pytest.raises(SignalRefused) as refused:
        client.signal(run_id, "approve", {"approved": True})
    assert str(refused.value) == f'Run "{run_id}" is completed: signals are refused'


def _install(dsn: str, path: Path) -> None:
    """Apply the compiled migration of a flow file (no worker needed)."""
    from pgflow_yaml.compiler import compile_flow, utc_timestamp
    from pgflow_yaml.validate import load_flows

    (spec,) = load_flows([path])
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(compile_flow(spec, timestamp=utc_timestamp()).sql)


def _cli(dsn: str, *args: str) -> Any:
    return CliRunner().invoke(app, [*args, "--dsn", dsn])


def test_cli_signal_and_its_refusals(start_worker: StartWorker, dsn: str) -> None:
    with Client(dsn) as client:
        worker = start_worker(APPROVAL, extra=("--concurrency", "1"))
        run_id = client.start("approval", {"title": "Early"})
        # the signal may come before or after the step waits: either way the run finishes
        result = _cli(dsn, "signal", run_id, "approve", "--payload", '{"approved": true}')
        assert result.exit_code == 0, result.stderr
        assert result.stdout.strip() in ("pending", "completed")
        assert client.wait(run_id, 30).status == "completed"
        again = _cli(dsn, "signal", run_id, "approve", "--payload", '{"approved": true}')
        assert again.exit_code == 1
        assert again.stderr.strip() == (f'error: Run "{run_id}" is completed: signals are refused')
        bad = _cli(dsn, "signal", run_id, "approve", "--payload", "{nope")
        assert bad.exit_code == 2
        assert bad.stderr.startswith("error: --payload is not valid JSON")
        assert worker.proc.poll() is None


def test_an_early_signal_waits_for_its_step(
    start_worker: StartWorker, client: Client, dsn: str
) -> None:
    # no worker yet: draft cannot run, so the signal is kept until approve is ready
    _install(dsn, APPROVAL)
    run_id = client.start("approval", {"title": "Webhook first"})
    assert client.signal(run_id, "approve", {"approved": True, "reviewer": "bot"}) == "pending"
    assert _steps(client, run_id)["approve"] == "created"
    with pytest.raises(SignalRefused) as err:
        client.signal(run_id, "approve", {"approved": False})
    assert str(err.value) == f'Step "approve" of run "{run_id}" already has a signal for task 0'
    start_worker(APPROVAL)
    run = client.wait(run_id, 30)
    assert run.output == {"publish": {"published": "Webhook first", "approved_by": "bot"}}


def test_the_workers_maintenance_times_out_a_waiting_step(
    start_worker: StartWorker, client: Client, tmp_path: Path
) -> None:
    shutil.copy(FLOWS / "e2e_steps.py", tmp_path / "e2e_steps.py")
    flow = tmp_path / "e2e_signal_timeout.yaml"
    flow.write_text(
        "slug: e2e_signal_timeout\n"
        "steps:\n"
        "  - slug: wait\n"
        "    signal: {}\n"
        "    timeout: 3\n"
        "    when_exhausted: skip\n"
        "  - slug: after\n"
        "    handler: e2e_steps:echo\n"
        "    depends_on: [wait]\n",
        encoding="utf-8",
    )
    start_worker(flow)
    run_id = client.start("e2e_signal_timeout", {"n": 1})
    run = client.wait(run_id, 60)
    assert run.status == "completed"
    assert run.output == {"after": {"run": {"n": 1}}}
    assert _steps(client, run_id) == {"wait": "skipped", "after": "completed"}


def test_a_signal_map_step_from_the_client_and_the_command_line(
    client: Client, dsn: str, tmp_path: Path
) -> None:
    flow = tmp_path / "e2e_signal_map.yaml"
    flow.write_text(
        "slug: e2e_signal_map\n"
        "steps:\n"
        "  - slug: confirm\n"
        "    map: $input\n"
        "    signal: {schema: {type: string}}\n",
        encoding="utf-8",
    )
    _install(dsn, flow)
    run_id = client.start("e2e_signal_map", ["a", "b"])
    with pytest.raises(InvalidInput) as err:
        client.signal(run_id, "confirm", 7, task_index=1)
    assert str(err.value) == (
        "the payload does not match the signal schema of step 'confirm':\n"
        "  payload: 7 is not of type 'string'"
    )
    assert client.signal(run_id, "confirm", "B", task_index=1) == "pending"
    result = _cli(dsn, "signal", run_id, "confirm", "--payload", '"A"', "--task-index", "0")
    assert (result.exit_code, result.stdout) == (0, "completed\n")
    run = client.get(run_id)
    assert (run.status, run.output) == ("completed", {"confirm": ["A", "B"]})
