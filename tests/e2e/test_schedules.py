"""Schedules with real workers: two workers fire an every-minute schedule once, promptly; the
``pgflow schedules`` commands list, pause, resume and trigger."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
from typer.testing import CliRunner

from pgflow_yaml.cli import app
from pgflow_yaml.client import Client

from .conftest import StartWorker, wait_until

FLOW = """\
slug: e2e_cron
input_schema: {type: object, required: [region]}
schedules:
  - name: every_minute
    cron: "* * * * *"
    input: {region: eu}
    overlap: allow
  - name: nightly
    cron: "30 2 * * *"
    timezone: Europe/Berlin
    input: {region: us}
steps:
  - slug: a
    handler: cron_steps:echo
"""


def _flow(tmp_path: Path) -> Path:
    folder = tmp_path / "cron"
    folder.mkdir()
    (folder / "cron_steps.py").write_text("def echo(input):\n    return input\n")
    path = folder / "e2e_cron.yaml"
    path.write_text(FLOW)
    return path


def test_two_workers_fire_each_minute_once_and_promptly(
    start_worker: StartWorker, tmp_path: Path, dsn: str, client: Client
) -> None:
    flow = _flow(tmp_path)
    workers = [start_worker(flow), start_worker(flow)]
    event = wait_until(
        lambda: next(
            (
                e
                for w in workers
                for e in w.events("schedule_fired")
                if e["schedule"] == "every_minute"
            ),
            None,
        ),
        timeout=90,
        what="the every-minute schedule to fire",
    )
    assert event["outcome"] == "started"
    assert client.wait(event["run_id"], 30).output == {"a": {"run": {"region": "eu"}}}
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "select count(*), max(extract(epoch from fired_at - fire_at))"
            " from pgflow.schedule_fires where schedule_name = 'every_minute' and fire_at = %s",
            (event["fire_at"],),
        ).fetchone()
        assert row is not None
        runs = conn.execute(
            'select count(*) from pgflow.runs where input = \'{"region": "eu"}\''
        ).fetchone()
    count, lag = row
    assert count == 1
    assert lag < 5  # within about a second when the workers are idle (slack for a busy machine)
    assert runs is not None and runs[0] == len(
        [e for w in workers for e in w.events("schedule_fired") if e["schedule"] == "every_minute"]
    )


def _cli(dsn: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, [*args, "--dsn", dsn])
    return result.exit_code, result.stdout + result.stderr


def test_cli_lists_pauses_resumes_and_triggers(
    start_worker: StartWorker, tmp_path: Path, dsn: str, client: Client
) -> None:
    worker = start_worker(_flow(tmp_path))
    worker.signal(15)
    worker.wait()
    code, out = _cli(dsn, "schedules", "--json")
    assert code == 0, out
    listed = {s["name"]: s for s in json.loads(out)}
    nightly = listed["nightly"]
    assert (nightly["cron"], nightly["timezone"], nightly["paused"]) == (
        "30 2 * * *",
        "Europe/Berlin",
        False,
    )
    assert len(nightly["next_fires"]) == 3
    assert all(t["local"][11:16] in ("02:30", "03:00") for t in nightly["next_fires"])
    assert _cli(dsn, "schedules", "pause", "e2e_cron", "nightly") == (
        0,
        "paused e2e_cron/nightly\n",
    )
    assert client.schedules("e2e_cron")[1].paused_at is not None
    code, out = _cli(dsn, "schedules", "--flow", "e2e_cron")
    assert code == 0 and "paused" in out and "every_minute" in out
    assert _cli(dsn, "schedules", "resume", "e2e_cron", "nightly")[0] == 0
    assert client.schedules("e2e_cron")[1].paused_at is None
    code, out = _cli(dsn, "schedules", "trigger", "e2e_cron", "nightly", "--json")
    assert code == 0, out
    run_id = json.loads(out)["run_id"]
    assert client.get(run_id).input == {"region": "us"}
    info = client.schedules("e2e_cron")[1]
    assert (info.last_outcome, info.last_run_id, info.last_run_status) == (
        "triggered",
        run_id,
        "started",
    )
    assert _cli(dsn, "schedules", "pause", "e2e_cron", "weekly") == (
        1,
        'error: Schedule "weekly" of flow "e2e_cron" does not exist\n',
    )
