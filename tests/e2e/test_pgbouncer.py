"""A real worker and a real client through PgBouncer in transaction mode.

The test starts its own ``pgbouncer`` on a free port, pointing at the test server, with
``pool_mode = transaction``: two statements of one client connection may then run on two
server sessions, so a prepared statement, a session ``SET`` or a ``LISTEN`` made through it is
lost or lands on someone else's session. The worker runs with ``--transaction-pooling`` (and,
in one test, ``--listen-dsn`` pointing straight at the server); the client with
``transaction_pooling=True``. Skipped when no ``pgbouncer`` binary is installed (Debian:
``apt-get install pgbouncer``; ``.ci/run`` installs it when it can).
"""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from pgflow_yaml.client import AsyncClient, Client

from .conftest import FLOWS, WorkerProcess, executions, worker_command


def _pgbouncer_binary() -> str | None:
    return shutil.which("pgbouncer") or next(
        (p for p in ("/usr/sbin/pgbouncer", "/usr/local/sbin/pgbouncer") if os.access(p, os.X_OK)),
        None,
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _quoted(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def _unprivileged_user(host: str, port: str) -> str:
    """Name the user a pgbouncer started by root runs as: one that can reach the server.

    Over TCP, ``nobody``. Over a Unix socket, the owner of the server's socket file: the
    folder holding it may be closed to everyone else (the embedded server keeps its socket
    in its data directory, mode 0700, owned by the ``pgserver`` user it runs as)."""
    if not host.startswith("/"):
        return "nobody"
    owner = (Path(host) / f".s.PGSQL.{port}").stat().st_uid
    return "nobody" if owner == 0 else pwd.getpwuid(owner).pw_name


@pytest.fixture
def pooled_dsn(dsn: str, tmp_path: Path) -> Iterator[str]:
    """Start a transaction-mode pgbouncer in front of the test database; return its DSN."""
    binary = _pgbouncer_binary()
    if binary is None:
        pytest.skip("no pgbouncer binary on PATH or in /usr/sbin (apt-get install pgbouncer)")
    params = conninfo_to_dict(dsn)
    user = str(params.get("user") or os.environ.get("PGUSER") or "postgres")
    host = str(params.get("host") or "127.0.0.1")
    server_port = str(params.get("port") or 5432)
    port = _free_port()
    users = tmp_path / "pgbouncer-users.txt"
    users.write_text(f"{_quoted(user)} {_quoted(str(params.get('password') or ''))}\n")
    ini = tmp_path / "pgbouncer.ini"
    ini.write_text(
        "[databases]\n"
        f"* = host={host} port={server_port}\n"
        "[pgbouncer]\n"
        "listen_addr = 127.0.0.1\n"
        f"listen_port = {port}\n"
        "unix_socket_dir =\n"
        "auth_type = trust\n"
        f"auth_file = {users}\n"
        "pool_mode = transaction\n"
        "default_pool_size = 8\n"
        "max_client_conn = 100\n"
        "ignore_startup_parameters = extra_float_digits,options\n"
    )
    # PgBouncer refuses to run as root: it drops to another user after reading its files
    argv = [binary, *(["-u", _unprivileged_user(host, server_port)] if os.geteuid() == 0 else [])]
    argv.append(str(ini))
    log = tmp_path / "pgbouncer.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    pooled = make_conninfo(dsn, host="127.0.0.1", port=str(port))
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                psycopg.connect(pooled, connect_timeout=2).close()
                break
            except psycopg.OperationalError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("pgbouncer did not start:\n" + log.read_text(errors="replace"))
                time.sleep(0.1)
        yield pooled
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _start(cmd: list[str], tmp_path: Path, record: Path, name: str) -> WorkerProcess:
    log = tmp_path / f"{name}.log"
    env = dict(os.environ, E2E_RECORD=str(record), PYTHONUNBUFFERED="1")
    env.pop("PGFLOW_TRANSACTION_POOLING", None)  # the flag alone must be enough
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=tmp_path)
    worker = WorkerProcess(proc, log)
    worker.wait_for("worker_started")
    return worker


def _stop(worker: WorkerProcess) -> None:
    if worker.proc.poll() is None:
        worker.signal(signal.SIGTERM)
    assert worker.wait(30) == 0, worker.log_tail()


def test_the_pool_is_in_transaction_mode(pooled_dsn: str) -> None:
    """Two clients, one after the other, share one server session: nothing of a session
    survives its transaction, which is what the other tests rely on."""
    with psycopg.connect(pooled_dsn, autocommit=True) as one:
        first = one.execute("select pg_backend_pid()").fetchone()
        with psycopg.connect(pooled_dsn, autocommit=True) as two:
            second = two.execute("select pg_backend_pid()").fetchone()
    assert first == second


def test_worker_and_client_through_pgbouncer_poll_without_listen(
    pooled_dsn: str, tmp_path: Path, record_file: Path
) -> None:
    cmd = worker_command(
        FLOWS / "e2e_chain.yaml",
        dsn=pooled_dsn,
        extra=("--transaction-pooling", "--poll-interval", "0.2", "--concurrency", "4"),
    )
    worker = _start(cmd, tmp_path, record_file, "worker")
    try:
        assert worker.events("listen_disabled"), worker.log_tail()
        with Client(pooled_dsn, transaction_pooling=True) as client:
            # far more calls of each statement than psycopg's prepare threshold (5)
            run_ids = [client.start("e2e_chain", {"n": i}) for i in range(12)]
            run_ids += client.start_many("e2e_chain", [{"n": i} for i in range(12, 40)])
            runs = [client.wait(run_id, 60) for run_id in run_ids]
        assert {run.status for run in runs} == {"completed"}
        run_ids += asyncio.run(_start_and_wait_async(pooled_dsn, 8))
    finally:
        _stop(worker)
    done = Counter((run_id, step) for run_id, step, _, _, _ in executions(record_file))
    assert set(done) == {(str(r), s) for r in run_ids for s in "abc"}
    assert set(done.values()) == {1}  # no task ran twice
    for action in (
        "listen_failed",
        "housekeeping_failed",
        "claim_failed",
        "report_failed",
        "schedule_failed",
        "reconnect_failed",
    ):
        assert worker.events(action) == [], worker.log_tail()


async def _start_and_wait_async(dsn: str, count: int) -> list[str]:
    async with AsyncClient(dsn, transaction_pooling=True) as client:
        ids = [await client.start("e2e_chain", {"n": f"async-{i}"}) for i in range(count)]
        for run_id in ids:
            assert (await client.wait(run_id, 60)).status == "completed"
    return ids


def test_listen_dsn_keeps_notifications_beside_the_pool(
    dsn: str, pooled_dsn: str, tmp_path: Path, record_file: Path
) -> None:
    """With --listen-dsn the worker LISTENs on a direct session and claims through the pool:
    with polls a minute apart, the runs still complete because the NOTIFY wakes it."""
    cmd = worker_command(
        FLOWS / "e2e_chain.yaml",
        dsn=pooled_dsn,
        extra=("--transaction-pooling", "--listen-dsn", dsn, "--poll-interval", "60"),
    )
    worker = _start(cmd, tmp_path, record_file, "worker")
    try:
        assert worker.events("listen_disabled") == []
        with psycopg.connect(dsn, autocommit=True) as admin:
            deadline = time.monotonic() + 20
            while not admin.execute(
                "select 1 from pg_stat_activity where datname = current_database()"
                " and application_name = 'pgflow-worker:listen' and query ilike 'listen%'"
            ).fetchone():
                assert time.monotonic() < deadline, worker.log_tail()
                time.sleep(0.1)
        with Client(pooled_dsn, transaction_pooling=True) as client:
            for i in range(3):
                run_id = client.start("e2e_chain", {"n": i})
                assert client.wait(run_id, 30).status == "completed", worker.log_tail()
    finally:
        _stop(worker)
    assert worker.events("listen_failed") == []
