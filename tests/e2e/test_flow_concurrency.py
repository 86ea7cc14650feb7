"""Flow concurrency with real workers: at most N runs in progress (per key), queued runs start
in arrival order, and no slot is ever lost (worker death, cancel, retry, a raised limit)."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import psycopg
import pytest

from pgflow_yaml.client import Client
from pgflow_yaml.errors import RunNotFinished
from pgflow_yaml.validate import validate_paths
from pgflow_yaml.worker.startup import install_flow

from .conftest import StartWorker, executions, wait_until

HANDLERS = '''
import os, time
from pathlib import Path


def _record(ctx):
    target = os.environ.get("E2E_RECORD")
    if target:
        line = f"{ctx.run_id} {ctx.step_slug} {ctx.task_index} {ctx.attempt} {ctx.worker_id}\\n"
        fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)


def work(input, ctx):
    """Sleep run.sleep seconds (on attempt 1 only with run.first_only), wait for the file
    run.until when given, fail while the file run.fail_unless is missing."""
    _record(ctx)
    run = input["run"]
    if not run.get("first_only") or ctx.attempt == 1:
        time.sleep(run.get("sleep", 0))
    if "until" in run:
        while not Path(run["until"]).exists():
            time.sleep(0.02)
    if "fail_unless" in run and not Path(run["fail_unless"]).exists():
        raise RuntimeError("not yet")
    return run
'''


def flow_file(folder: Path, slug: str, concurrency: str, *, timeout: int = 30) -> Path:
    path = folder / f"{slug}.yaml"
    path.write_text(
        f"slug: {slug}\nconcurrency: {concurrency}\ntimeout: {timeout}\nmax_attempts: 2\n"
        "base_delay: 1\nsteps:\n"
        "  - slug: a\n    handler: fc_steps:work\n"
        "  - slug: b\n    handler: fc_steps:work\n    depends_on: [a]\n",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "fc_steps.py").write_text(HANDLERS, encoding="utf-8")
    return tmp_path


class Sampler:
    """Reads the runs of a flow every few milliseconds on its own connection."""

    QUERY = """
        select coalesce(r.slot_key, '') as key,
               count(*) filter (where r.status = 'started') as started,
               coalesce(max(r.queue_seq) filter (where r.status <> 'queued'), -1)
                 < coalesce(min(r.queue_seq) filter (where r.status = 'queued'), 9e18)
                 as prefix
        from pgflow.runs r where r.flow_slug = %s group by 1
    """

    def __init__(self, dsn: str, flow_slug: str) -> None:
        self.dsn, self.flow_slug = dsn, flow_slug
        self.samples = 0
        self.max_started: dict[str, int] = {}
        self.out_of_order = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            while not self._stop.is_set():
                for key, started, prefix in conn.execute(self.QUERY, (self.flow_slug,)):
                    self.max_started[key] = max(self.max_started.get(key, 0), started)
                    self.out_of_order += 0 if prefix else 1
                self.samples += 1
                time.sleep(0.003)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


def test_four_workers_never_run_more_than_the_limit_and_start_in_arrival_order(
    start_worker: StartWorker, client: Client, dsn: str, folder: Path
) -> None:
    flow = flow_file(folder, "fc_two", "2")
    for _ in range(4):
        start_worker(flow, extra=("--concurrency", "4"))
    with Sampler(dsn, "fc_two") as sample:
        first = client.start_many("fc_two", [{"sleep": 0.01, "n": n} for n in range(110)])
        second = [client.start("fc_two", {"sleep": 0.01, "n": n}) for n in range(110, 220)]
        for run_id in first + second:
            assert client.wait(run_id, 120).status == "completed"
    assert sample.samples > 100
    assert sample.max_started == {"": 2}
    assert sample.out_of_order == 0
    # started in arrival order: the queue order is the order of the calls
    order = [
        str(r[0])
        for r in psycopg.connect(dsn, autocommit=True).execute(
            "select run_id from pgflow.runs order by queue_seq"
        )
    ]
    assert order == first + second


def test_a_key_limits_each_value_on_its_own(
    start_worker: StartWorker, client: Client, dsn: str, folder: Path
) -> None:
    flow = flow_file(folder, "fc_keyed", "{limit: 1, key: tenant.id}")
    for _ in range(2):
        start_worker(flow, extra=("--concurrency", "6"))
    inputs = [{"sleep": 0.02, "tenant": {"id": f"t{n % 3}"}} for n in range(45)]
    with Sampler(dsn, "fc_keyed") as sample:
        run_ids = client.start_many("fc_keyed", inputs)
        for run_id in run_ids:
            assert client.wait(run_id, 120).status == "completed"
    assert sample.max_started == {"t0": 1, "t1": 1, "t2": 1}
    assert sample.out_of_order == 0


def test_a_killed_worker_does_not_leak_its_slot(
    start_worker: StartWorker, client: Client, folder: Path, record_file: Path
) -> None:
    flow = flow_file(folder, "fc_kill", "1", timeout=3)
    victim = start_worker(flow)
    holder = client.start("fc_kill", {"sleep": 10, "first_only": True})
    waiting = client.start_many("fc_kill", [{"n": n} for n in range(3)])
    wait_until(lambda: executions(record_file), what="the first task to start")
    assert [client.get(r).status for r in waiting] == ["queued"] * 3
    victim.signal(signal.SIGKILL)
    victim.wait(10)
    start_worker(flow)
    assert client.wait(holder, 60).status == "completed"
    for run_id in waiting:
        assert client.wait(run_id, 60).status == "completed"
    attempts = [e[3] for e in executions(record_file) if e[0] == holder and e[1] == "a"]
    assert attempts == [1, 2]  # attempt 1 died with its worker


def test_a_cancelled_queued_run_never_starts(
    start_worker: StartWorker, client: Client, folder: Path, record_file: Path
) -> None:
    gate = folder / "open"
    flow = flow_file(folder, "fc_cancel", "1")
    start_worker(flow)
    holder = client.start("fc_cancel", {"until": str(gate)})
    queued, after = client.start("fc_cancel", {}), client.start("fc_cancel", {})
    cancelled = client.cancel(queued)
    assert cancelled.status == "cancelled"
    assert {s.status for s in cancelled.steps} == {"cancelled"}
    gate.touch()
    assert client.wait(holder, 30).status == "completed"
    assert client.wait(after, 30).status == "completed"
    assert client.get(queued).status == "cancelled"
    assert not [e for e in executions(record_file) if e[0] == queued]


def test_retry_of_a_failed_run_under_a_full_limit_queues(
    start_worker: StartWorker, client: Client, folder: Path
) -> None:
    gate, fixed = folder / "open", folder / "fixed"
    flow = flow_file(folder, "fc_retry", "1")
    start_worker(flow)
    broken = client.start("fc_retry", {"fail_unless": str(fixed)})
    assert client.wait(broken, 30).status == "failed"
    holder = client.start("fc_retry", {"until": str(gate)})
    fixed.touch()
    assert client.retry(broken).status == "queued"
    gate.touch()
    assert client.wait(holder, 30).status == "completed"
    assert client.wait(broken, 30).status == "completed"


def test_an_idempotent_start_of_a_queued_run_returns_it(
    start_worker: StartWorker, client: Client, folder: Path
) -> None:
    gate = folder / "open"
    flow = flow_file(folder, "fc_idem", "1")
    start_worker(flow)
    holder = client.start("fc_idem", {"until": str(gate)})
    first = client.start("fc_idem", {"n": 1}, idempotency_key="order-7")
    again = client.start("fc_idem", {"n": 2}, idempotency_key="order-7")
    assert first == again and client.get(first).status == "queued"
    with pytest.raises(RunNotFinished):  # queued is not finished
        client.get(first).result()
    gate.touch()
    assert client.wait(first, 30).output == {"b": {"n": 1}}
    assert client.wait(holder, 30).status == "completed"
    assert len(client.runs(flow="fc_idem")) == 2


def test_raising_the_limit_by_a_recompiled_migration_starts_waiting_runs(
    start_worker: StartWorker, client: Client, dsn: str, folder: Path
) -> None:
    gate = folder / "open"
    path = flow_file(folder, "fc_raise", "1")
    start_worker(path)
    run_ids = client.start_many("fc_raise", [{"until": str(gate)} for _ in range(4)])
    assert [client.get(r).status for r in run_ids] == ["started"] + ["queued"] * 3
    flow_file(folder, "fc_raise", "3")
    (flow,) = validate_paths([path]).flows
    with psycopg.connect(dsn, autocommit=True) as conn:
        install_flow(conn, flow)
        stored = conn.execute("select opt_concurrency from pgflow.flows").fetchone()
    assert stored == ({"limit": 3},)
    assert [client.get(r).status for r in run_ids] == ["started"] * 3 + ["queued"]
    gate.touch()
    for run_id in run_ids:
        assert client.wait(run_id, 30).status == "completed"
