"""A handler error that quotes the worker's DSN or password is stored and logged redacted.

The client role reads ``step_tasks.error_message`` and ``error_traceback``: nothing of the
password the worker connects with may reach them, or the worker's log, in any spelling (raw,
URL-encoded, escaped in a libpq string, a repr or a JSON string), wherever the worker got it
(the DSN, ``PGPASSWORD``, a passfile). The error stays informative: ``***`` marks each spot.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from pgflow_yaml import core
from pgflow_yaml.client import Client

from .conftest import REPO, WorkerProcess, worker_command

PASSWORD = "p@ss:w/rd%?&=#'\""
_counter = itertools.count()

FLOW = """\
slug: leaky
timeout: 10
steps:
  - slug: connect
    handler: leaky_steps:connect
    max_attempts: 1
"""

HANDLERS = '''\
import os

from psycopg.conninfo import conninfo_to_dict, make_conninfo


def connect(input, ctx):
    """Fail with the DSN and the password in a chain of three exceptions, and log them."""
    dsn = os.environ["LEAK_DSN"]
    password = os.environ["LEAK_PASSWORD"]
    ctx.logger.warning("connecting to %s with %r (%s)", dsn, password, password)
    try:
        try:
            raise ConnectionRefusedError(f"password {password!r} refused (raw: {password})")
        except ConnectionRefusedError as refused:
            conninfo = make_conninfo("", **conninfo_to_dict(dsn))
            raise LookupError(f"no server at {conninfo}") from refused
    except LookupError:
        raise RuntimeError(f"cannot reach {dsn} with {conninfo_to_dict(dsn)}")
'''


def _spellings(secret: str) -> list[str]:
    libpq = secret.replace("\\", "\\\\").replace("'", "\\'")
    forms = [secret, quote(secret, safe=""), libpq, json.dumps(secret)[1:-1], repr(secret)[1:-1]]
    return forms + [json.dumps(form)[1:-1] for form in forms]


def _assert_no_trace_of(secret: str, text: str, where: str) -> None:
    """Assert that no 5-character piece of any spelling of ``secret`` is in ``text``."""
    for form in _spellings(secret):
        for i in range(len(form) - 4):
            piece = form[i : i + 5]
            assert piece not in text, f"{piece!r} (of {form!r}) appears in {where}"


def _server_address(dsn: str) -> tuple[str, str]:
    """Return the host (or Unix socket directory, or "" for libpq's default) and the port
    of the server the test DSN reaches: the machine's on TCP, or the embedded one on a socket."""
    params = conninfo_to_dict(dsn)
    return str(params.get("host") or ""), str(params.get("port") or 5432)


def _url_host(host: str) -> str:
    """Spell ``host`` for a URL's authority: a socket directory percent-encoded, as libpq
    reads it; an IPv6 address in brackets."""
    if host.startswith("/"):
        return quote(host, safe="")
    return f"[{host}]" if ":" in host else host


def _passfile_host(host: str) -> str:
    """Return the hostname field libpq matches in a passfile for a connection to ``host``.

    libpq compares it with the ``host`` parameter as written (a socket directory included),
    and uses ``localhost`` when no host is given (libpq's default socket directory)."""
    return host or "localhost"


def _passfile_field(value: str) -> str:
    return value.replace("\\", "\\\\").replace(":", "\\:")


@pytest.fixture
def secret_user(dsn: str) -> Iterator[str]:
    """Create a login user in ``pgflow_worker`` whose password is ``PASSWORD``; return its name."""
    name = f"pgflow_secret_{os.getpid()}_{next(_counter)}"
    with psycopg.connect(dsn, autocommit=True) as admin:
        core.install(admin, roles=True)
        admin.execute(
            sql.SQL("create role {} login password {}").format(
                sql.Identifier(name), sql.Literal(PASSWORD)
            )
        )
        admin.execute(sql.SQL("grant pgflow_worker to {}").format(sql.Identifier(name)))
    yield name
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("drop owned by {}").format(sql.Identifier(name)))
        admin.execute(sql.SQL("drop role {}").format(sql.Identifier(name)))


def _install_flow(dsn: str, flow_file: Path) -> None:
    """Install the flow as the admin (the worker role may not create flows)."""
    compiled = subprocess.run(
        [sys.executable, "-m", "pgflow_yaml", "compile", str(flow_file), "--stdout"],
        capture_output=True,
        text=True,
        check=True,
    )
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(compiled.stdout.encode())


def _rows(dsn: str, query: str, run_id: str) -> list[dict[str, Any]]:
    with psycopg.connect(dsn) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        cur.execute(query, (run_id,))
        return cur.fetchall()


@pytest.mark.parametrize("source", ["dsn", "PGPASSWORD", "passfile"])
def test_the_worker_s_password_never_reaches_a_task_error_or_a_log_line(
    source: str, dsn: str, secret_user: str, client: Client, tmp_path: Path
) -> None:
    (tmp_path / "leaky.yaml").write_text(FLOW)
    (tmp_path / "leaky_steps.py").write_text(textwrap.dedent(HANDLERS))
    _install_flow(dsn, tmp_path / "leaky.yaml")
    dbname = conninfo_to_dict(dsn)["dbname"]
    host, port = _server_address(dsn)
    address = f"{_url_host(host)}:{port}/{dbname}"
    bare = f"postgresql://{secret_user}@{address}"
    with_password = f"postgresql://{secret_user}:{quote(PASSWORD, safe='')}@{address}"
    env = dict(
        os.environ,
        PYTHONUNBUFFERED="1",
        PYTHONPATH=str(REPO),
        LEAK_DSN=with_password,
        LEAK_PASSWORD=PASSWORD,
    )
    env.pop("PGPASSWORD", None)
    worker_dsn = with_password if source == "dsn" else bare
    if source == "PGPASSWORD":
        env["PGPASSWORD"] = PASSWORD
    if source == "passfile":
        passfile = tmp_path / "pgpass"
        fields = (_passfile_host(host), port, dbname, secret_user, PASSWORD)
        passfile.write_text(":".join(map(_passfile_field, fields)) + "\n")
        passfile.chmod(0o600)
        env["PGPASSFILE"] = str(passfile)
    argv = worker_command(tmp_path / "leaky.yaml", dsn=worker_dsn)
    argv.remove("--apply")
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=tmp_path)
    worker = WorkerProcess(proc, log_path)
    try:
        worker.wait_for("worker_started")
        run = client.wait(client.start("leaky", {}), 30)
        assert run.status == "failed"
        worker.wait_for("task_failed", step_slug="connect")
        # the claim connection opens at the first claim, after "worker started": look now
        with psycopg.connect(dsn, autocommit=True) as admin:
            row = admin.execute(
                "select usename from pg_stat_activity"
                " where application_name = 'pgflow-worker:claim' and datname = current_database()"
            ).fetchone()
        assert row == (secret_user,)  # the worker really connects as the user
    finally:
        proc.terminate()
        proc.wait(30)

    tasks = _rows(
        dsn,
        "select error_message, error_traceback, output::text from pgflow.step_tasks"
        " where run_id = %s",
        run.run_id,
    )
    states = _rows(
        dsn,
        "select error_message, output::text from pgflow.step_states where run_id = %s",
        run.run_id,
    )
    runs = _rows(dsn, "select output::text from pgflow.runs where run_id = %s", run.run_id)
    for table, rows in (("step_tasks", tasks), ("step_states", states), ("runs", runs)):
        _assert_no_trace_of(PASSWORD, json.dumps(rows, default=str), table)
    log_text = log_path.read_text(encoding="utf-8")
    _assert_no_trace_of(PASSWORD, log_text, "the worker's log")

    # still informative: every part of the error is there, with *** where the password was
    masked_url = f"postgresql://{secret_user}:***@{address}"
    params = dict(conninfo_to_dict(with_password), password="***")
    [task] = tasks
    assert task["error_message"] == f"RuntimeError: cannot reach {masked_url} with {params}"
    assert task["output"] is None
    traceback = task["error_traceback"]
    assert "ConnectionRefusedError: password '***' refused (raw: ***)" in traceback
    assert f"LookupError: no server at user={secret_user} password=*** dbname={dbname}" in traceback
    assert f"RuntimeError: cannot reach {masked_url} with {params}" in traceback
    assert "The above exception was the direct cause of the following exception" in traceback
    assert "During handling of the above exception, another exception occurred" in traceback
    assert states[0]["error_message"] == task["error_message"]
    [failed] = worker.events("task_failed")
    assert failed["error"] == task["error_message"]
    [logged] = worker.events("handler_log")
    assert logged["message"] == f"connecting to {masked_url} with '***' (***)"
