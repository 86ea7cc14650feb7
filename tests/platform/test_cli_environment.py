"""Every command ends an environment failure with one line and its exit status, no traceback.

The failures: no database server, a wrong password, a server without pgmq (an empty database,
no core), a pgflow 0.8.1 database, a data folder the embedded server cannot use, and a flow
file that does not exist. Commands run in this process through the CLI's error boundary
(``CliRunner``); an exception escaping it (a traceback for the user) fails the test.

The shared test server trusts every TCP login, so the wrong password is tried on a private
server of our own (initdb with scram-sha-256), started once for this module.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from pgflow_yaml.cli import app
from tests.compat.pgflow081 import pgflow081_dsn, pgflow081_template  # noqa: F401

REPO = Path(__file__).resolve().parents[2]
FLOW = str(REPO / "flows_examples" / "hello.yaml")
RUN_ID = "0190abcd-0000-7000-8000-000000000000"

# Every command that uses a database, with the arguments it needs besides --dsn.
DATABASE_COMMANDS = {
    "install": ["install"],
    "compile --check": ["compile", FLOW, "--check"],
    "run-worker": ["run-worker", FLOW],
    "run": ["run", FLOW],
    "start": ["start", "hello"],
    "status": ["status", RUN_ID],
    "why": ["why", RUN_ID],
    "runs": ["runs"],
    "cancel": ["cancel", RUN_ID],
    "retry": ["retry", RUN_ID],
    "prune": ["prune", "--older-than", "30 days"],
    "flows list": ["flows", "list"],
    "flows drop": ["flows", "drop", "hello", "--yes"],
    "signal": ["signal", RUN_ID, "approve"],
    "schedules": ["schedules"],
    "schedules pause": ["schedules", "pause", "hello", "default"],
    "schedules resume": ["schedules", "resume", "hello", "default"],
    "schedules trigger": ["schedules", "trigger", "hello", "default"],
}
# A validator summary ("0 files checked, 1 error in 1 file") follows a diagnostic.
_SUMMARY = re.compile(r"^\d+ files? checked, ")


def pgflow(*argv: str) -> Result:
    return CliRunner().invoke(app, list(argv))


def assert_one_line(result: Result, code: int, message: str) -> None:
    """Assert the exit status, no escaped exception, and exactly one message line on stderr."""
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.stdout + result.stderr
    lines = [ln for ln in result.stderr.splitlines() if ln.strip() and not _SUMMARY.match(ln)]
    assert len(lines) == 1, result.stderr
    assert re.search(message, lines[0]), lines[0]
    assert result.exit_code == code, result.stderr


@pytest.fixture(autouse=True)
def _no_configured_database(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("PGFLOW_DATABASE_URL", "DATABASE_URL", "PGFLOW_TRACEBACK"):
        monkeypatch.delenv(var, raising=False)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.parametrize("argv", DATABASE_COMMANDS.values(), ids=DATABASE_COMMANDS.keys())
def test_no_database_server(argv: list[str]) -> None:
    port = _free_port()
    result = pgflow(*argv, "--dsn", f"postgresql://app:hunter2@127.0.0.1:{port}/orders")
    assert_one_line(
        result, 2, f'^error: cannot connect to 127.0.0.1:{port}, database "orders", user "app": '
    )
    assert "hunter2" not in result.stderr


def _server_programs() -> tuple[str, str]:
    """Return initdb and pg_ctl: the ones on PATH, else those shipped in the embedded
    server's wheel (a fresh machine without PostgreSQL has those)."""
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb is not None and pg_ctl is not None:
        return initdb, pg_ctl
    from pgflow_yaml import embedded

    try:
        folder = embedded.psql_path().parent
    except embedded.EmbeddedServerError as exc:
        pytest.skip(f"initdb/pg_ctl are not on PATH, nor from the embedded server's wheel: {exc}")
    return str(folder / "initdb"), str(folder / "pg_ctl")


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


@pytest.fixture(scope="module")
def password_server() -> Iterator[int]:
    """Start a private PostgreSQL checking passwords on 127.0.0.1; yield its port."""
    initdb, pg_ctl = _server_programs()
    # initdb refuses root: root runs the server as postgres, else nobody
    owner = None
    if os.geteuid() == 0:
        owner = "postgres" if _user_exists("postgres") else "nobody"
    as_user = ["runuser", "-u", owner, "--"] if owner else []
    folder = Path(tempfile.mkdtemp(prefix="pgflow-password-"))
    (folder / "pw").write_text("right-password\n")
    if owner:
        shutil.chown(folder, owner)
        shutil.chown(folder / "pw", owner)
    port = _free_port()
    data = folder / "data"
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
    try:
        subprocess.run(
            [
                *as_user,
                initdb,
                "-D",
                str(data),
                "-U",
                "postgres",
                "-A",
                "scram-sha-256",
                "-N",
                "--pwfile",
                str(folder / "pw"),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        subprocess.run(
            [
                *as_user,
                pg_ctl,
                "-D",
                str(data),
                "-w",
                "-l",
                str(folder / "log"),
                "-o",
                options,
                "start",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        yield port
    finally:
        subprocess.run(
            [*as_user, pg_ctl, "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.parametrize("argv", DATABASE_COMMANDS.values(), ids=DATABASE_COMMANDS.keys())
def test_wrong_password(argv: list[str], password_server: int) -> None:
    dsn = f"postgresql://postgres:wrong-password@127.0.0.1:{password_server}/postgres"
    result = pgflow(*argv, "--dsn", dsn)
    assert_one_line(
        result,
        2,
        f'^error: cannot connect to 127.0.0.1:{password_server}, database "postgres", user'
        ' "postgres": password authentication failed for user "postgres"$',
    )
    assert "wrong-password" not in result.stderr


CORE_NEEDED = (
    r'^error: the pgflow core is missing or outdated here: (schema|relation) "pgflow(\.\w+)?"'
    r" does not exist; run `pgflow install`$"
)
NO_CORE = {  # exit 2 for every command; `install` and `run` install pgmq and the core
    "compile --check": (2, "^error: cannot check the database: the database has no pgflow"),
    "run-worker": (2, "^error: this database has no pgflow core: run `pgflow install` first$"),
    "start": (2, CORE_NEEDED),
    "status": (2, CORE_NEEDED),
    "runs": (2, CORE_NEEDED),
    "cancel": (2, CORE_NEEDED),
    "retry": (2, CORE_NEEDED),
    "flows list": (2, CORE_NEEDED),
    "flows drop": (2, CORE_NEEDED),
}


@pytest.mark.parametrize("command", NO_CORE)
def test_server_without_pgmq_or_core(command: str, empty_dsn: str) -> None:
    code, message = NO_CORE[command]
    assert_one_line(pgflow(*DATABASE_COMMANDS[command], "--dsn", empty_dsn), code, message)


FOREIGN = "^error: schema pgflow exists but holds no pgflow-yaml version record"
PGFLOW_081 = {  # `runs` works on pgflow 0.8.1
    "install": (1, FOREIGN),
    "run": (1, FOREIGN),
    "compile --check": (2, "^error: cannot check the database: the database has no pgflow"),
    "run-worker": (
        1,
        "^error: the database does not hold the flows of these files: flow 'hello' is not in"
        " the database: apply its migration",
    ),
    "start": (1, r"^error: no flow 'hello' in the database \(apply its migration first\)$"),
    "status": (1, f"^error: no run {RUN_ID}$"),
    "cancel": (1, f"^error: no run {RUN_ID}$"),
    "retry": (1, f"^error: no run {RUN_ID}$"),
    "flows drop": (1, r"^error: no flow 'hello' in the database \(apply its migration first\)$"),
}


@pytest.mark.parametrize("command", PGFLOW_081)
def test_pgflow_081_database(command: str, pgflow081_dsn: str) -> None:  # noqa: F811
    code, message = PGFLOW_081[command]
    assert_one_line(pgflow(*DATABASE_COMMANDS[command], "--dsn", pgflow081_dsn), code, message)


UNUSABLE_FOLDER = (
    r"^error: (no database to check: )?cannot create the folder .*/\.pgflow for the embedded"
    r" server's data: File exists; use a folder you can write to, or set PGFLOW_DATABASE_URL"
)
EMBEDDED_COMMANDS = {
    **{name: (argv, 2, UNUSABLE_FOLDER) for name, argv in DATABASE_COMMANDS.items()},
    "db start": (["db", "start"], 2, UNUSABLE_FOLDER),
    "db psql": (["db", "psql"], 2, UNUSABLE_FOLDER),
    "db url": (["db", "url"], 1, r"^error: the embedded server in .* is not running; start it"),
}


@pytest.mark.parametrize("command", EMBEDDED_COMMANDS)
def test_embedded_data_folder_cannot_be_created(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".pgflow").write_text("a file where the server's folder should be")
    monkeypatch.chdir(tmp_path)
    argv, code, message = EMBEDDED_COMMANDS[command]
    assert_one_line(pgflow(*argv), code, message)


def test_embedded_data_folder_under_proc() -> None:
    """Root may write almost anywhere, but not under /proc (refused first, when run as root)."""
    result = pgflow("db", "start", "--data-dir", "/proc/pgflow-test/db")
    assert_one_line(result, 2, r"^error: (refusing to keep|cannot create|the embedded)")


MISSING_FILE = "missing.yaml: error[PGF101] no such file or folder"
FLOW_FILE_COMMANDS = {
    "validate": (["validate", "missing.yaml"], 2, f"^{re.escape(MISSING_FILE)}$"),
    "compile": (["compile", "missing.yaml"], 2, f"^{re.escape(MISSING_FILE)}$"),
    "graph": (["graph", "missing.yaml"], 2, f"^{re.escape(MISSING_FILE)}$"),
    "run-worker": (
        ["run-worker", "missing.yaml"],
        1,
        f"^error: the flow files are invalid: {re.escape(MISSING_FILE)}$",
    ),
    "run": (
        ["run", "missing.yaml"],
        1,
        f"^error: the flow files are invalid: {re.escape(MISSING_FILE)}$",
    ),
    "start": (["start", "missing.yaml"], 1, "^error: no flow file at missing.yaml$"),
}


@pytest.mark.parametrize("command", FLOW_FILE_COMMANDS)
def test_flow_file_missing(
    command: str, dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    argv, code, message = FLOW_FILE_COMMANDS[command]
    uses_database = command in ("run-worker", "run", "start")
    assert_one_line(pgflow(*argv, *(["--dsn", dsn] if uses_database else [])), code, message)


def test_traceback_on_request(monkeypatch: pytest.MonkeyPatch) -> None:
    port = _free_port()
    argv = ["status", RUN_ID, "--dsn", f"postgresql://app@127.0.0.1:{port}/orders"]
    asked = pgflow("--traceback", *argv)
    assert asked.exit_code == 2
    assert asked.stderr.startswith("Traceback (most recent call last):")
    assert "pgflow_yaml.errors.ConnectError: cannot connect to 127.0.0.1" in asked.stderr
    assert asked.stderr.splitlines()[-1].startswith("error: cannot connect to 127.0.0.1")
    monkeypatch.setenv("PGFLOW_TRACEBACK", "1")
    from_env = pgflow(*argv)
    assert from_env.exit_code == 2 and "Traceback (most recent call last):" in from_env.stderr


def test_a_bug_keeps_its_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only ``PgflowError`` is reported as one line; anything else is a bug to be seen whole."""
    from pgflow_yaml import schema

    def broken() -> str:
        raise KeyError("a bug")

    monkeypatch.setattr(schema, "schema_text", broken)
    result = pgflow("schema")
    assert isinstance(result.exception, KeyError)
    assert result.exit_code == 1
