"""A real worker process logged in as a member of ``pgflow_worker`` serves a flow end to end.

Its row of ``pgflow.workers`` is registered, heartbeated and stopped through the core's
functions, as its own login's; the flow was installed after the roles by the installing role.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from pgflow_yaml import core
from pgflow_yaml.client import Client
from pgflow_yaml.worker.service import prepare

from .conftest import EXAMPLES, WorkerProcess, worker_command


@pytest.fixture
def worker_login(dsn: str) -> Iterator[str]:
    """Install the roles and the hello flow; return the DSN of a login in pgflow_worker."""
    name = f"pgflow_w_{os.getpid()}"
    with psycopg.connect(dsn, autocommit=True) as admin:
        core.install(admin, roles=True)
        admin.execute(sql.SQL("drop role if exists {}").format(sql.Identifier(name)))
        admin.execute(
            sql.SQL("create role {} login in role pgflow_worker").format(sql.Identifier(name))
        )
    prepare([EXAMPLES / "hello.yaml"], dsn, apply=True)
    yield make_conninfo(dsn, user=name)
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("drop owned by {}").format(sql.Identifier(name)))
        admin.execute(sql.SQL("drop role {}").format(sql.Identifier(name)))


def test_worker_login_serves_a_flow_and_keeps_its_own_row(
    dsn: str, worker_login: str, tmp_path: Path
) -> None:
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            worker_command(EXAMPLES / "hello.yaml", dsn=worker_login),
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
    worker = WorkerProcess(proc, log)
    try:
        started = worker.wait_for("worker_started")
        with Client(dsn) as client:
            run_id = client.start("hello", {"name": "role"})
            assert client.wait(run_id, 30).output == {"shout": {"message": "HELLO, ROLE!"}}
    finally:
        worker.signal(signal.SIGTERM)
        assert worker.wait(20) == 0
    with psycopg.connect(dsn, autocommit=True) as admin:
        row = admin.execute(
            "select queue_name, registered_by, stopped_at is not null from pgflow.workers"
            " where worker_id = %s",
            (started["worker_id"],),
        ).fetchone()
    assert row == ("hello", conninfo_to_dict(worker_login)["user"], True)
    assert worker.events("housekeeping_failed") == []
