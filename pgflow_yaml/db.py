"""Where the database is, how to reach it without leaking a password, and what its errors mean.

The DSN comes from ``--dsn``, else ``PGFLOW_DATABASE_URL``, else ``DATABASE_URL``, else the
embedded server (``pgflow_yaml.embedded``) with its data in ``./.pgflow/db``.

Driver errors become the project's exceptions here and nowhere else: :func:`connect_error`
for a connection that cannot be opened, :func:`translate` (and the :func:`translated` block)
for a statement the server refused, by SQLSTATE and constraint name, never by message text.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import TupleRow

from pgflow_yaml.errors import (
    ConnectError,
    CoreNotInstalled,
    DatabaseError,
    DatabaseUnavailable,
    FlowNotFound,
    PgflowError,
    RunExists,
    RunNotFound,
    ScheduleNotFound,
    ShapeMismatch,
    SignalRefused,
)
from pgflow_yaml.redaction import redact as redact  # db.redact: the name callers know

ENV_VARS = ("PGFLOW_DATABASE_URL", "DATABASE_URL")
EMBEDDED_DIR = Path(".pgflow") / "db"
CONNECT_TIMEOUT = 10
POOLING_ENV = "PGFLOW_TRANSACTION_POOLING"
"""Set to 1 when the DSN reaches PostgreSQL through a pooler in transaction mode (PgBouncer)."""

# SQLSTATEs of a statement naming an object the database lacks: no pgflow core (or pgmq), or
# one too old for the call (undefined_function, invalid_schema_name, undefined_table).
MISSING_OBJECT = frozenset({"42883", "3F000", "42P01"})
FOREIGN_KEY_VIOLATION = "23503"
# start_flow / start_flows of an unknown flow: our core raises this constraint by name, and
# pgflow 0.8.1 violates it for real.
RUNS_FLOW_FKEY = "runs_flow_slug_fkey"
UNIQUE_VIOLATION = "23505"
RUNS_PKEY = "runs_pkey"  # start_flow with a run_id already used (our core and pgflow 0.8.1)
# The SQL core's own codes (class PF, private to pgflow-yaml).
SHAPE_DIFFERS = "PF001"  # pgflow.assert_flow_shape: a compiled migration meets another shape
SIGNAL_REFUSED = "PF010"  # pgflow.signal: not a signal step, signalled twice, run not running
NO_SCHEDULE = "PF002"  # pause_schedule / trigger_schedule: no such schedule
NO_RUN = "PF011"  # explain_run: no such run

__all__ = [
    "ConnectError",
    "DatabaseError",
    "connect",
    "connect_error",
    "describe",
    "redact",
    "resolve_dsn",
    "translate",
    "translated",
    "with_dbname",
]


def resolve_dsn(dsn: str | None = None, *, embedded_dir: Path | None = None) -> str:
    """Return the DSN to use: the argument, then the environment, then the embedded server.

    Args:
        dsn: An explicit DSN (``--dsn``); wins when set.
        embedded_dir: Data directory of the embedded server (default ``./.pgflow/db``).

    Raises:
        pgflow_yaml.embedded.EmbeddedServerError: the embedded server cannot start.
    """
    if dsn:
        return dsn
    for var in ENV_VARS:
        value = os.environ.get(var)
        if value:
            return value
    from pgflow_yaml import embedded

    return embedded.server_url(embedded_dir or Path.cwd() / EMBEDDED_DIR)


def uses_embedded(dsn: str | None = None) -> bool:
    """Return True when :func:`resolve_dsn` would use the embedded server (no DSN set anywhere)."""
    return not dsn and not any(os.environ.get(var) for var in ENV_VARS)


def describe(dsn: str) -> str:
    """Name the server a DSN points at (user, host or socket, port, database), never the password.

    A DSN that does not parse is described by its redacted text.
    """
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.Error:
        return redact(dsn)
    host = str(params.get("host") or os.environ.get("PGHOST") or "the default socket")
    where = f"socket {host}" if host.startswith("/") else host
    port = params.get("port") or os.environ.get("PGPORT")
    if port and not host.startswith("/"):
        where += f":{port}"
    user = params.get("user") or os.environ.get("PGUSER")
    dbname = params.get("dbname") or os.environ.get("PGDATABASE") or user
    parts = [where]
    if dbname:
        parts.append(f'database "{dbname}"')
    if user:
        parts.append(f'user "{user}"')
    return ", ".join(parts)


def _reason(exc: Exception) -> str:
    """Reduce a driver error to its one meaningful line."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    line = next((ln for ln in lines if "failed:" in ln), lines[0])
    reason = line.rsplit("failed:", 1)[-1].strip() or line
    reason = re.sub(r"^(FATAL|ERROR):\s+", "", reason)
    return redact(re.sub(r"\s+", " ", reason))


def with_dbname(dsn: str, dbname: str) -> str:
    """Return ``dsn`` pointing at another database of the same server."""
    params = conninfo_to_dict(dsn)
    params["dbname"] = dbname
    return make_conninfo("", **params)


def transaction_pooling(explicit: bool | None = None) -> bool:
    """Return whether connections go through a transaction-mode pooler (such as PgBouncer).

    ``explicit`` decides when given; otherwise ``PGFLOW_TRANSACTION_POOLING`` (``1``, ``true``,
    ``yes`` or ``on``). Through such a pooler two statements of one connection may reach two
    server sessions, so nothing may rely on session state: no server-side prepared
    statements, no session ``SET``, no ``LISTEN``, no session advisory lock.
    """
    if explicit is not None:
        return explicit
    return os.environ.get(POOLING_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def session_kwargs(pooled: bool | None = None) -> dict[str, Any]:
    """Return the psycopg connection parameters that keep a connection free of session state
    when :func:`transaction_pooling` (``prepare_threshold=None``: psycopg never prepares a
    statement on the server, which a pooler could hand to another session); else none."""
    return {"prepare_threshold": None} if transaction_pooling(pooled) else {}


def _sets_timeout(dsn: str) -> bool:
    """Return True when the DSN or ``PGCONNECT_TIMEOUT`` chooses the connect timeout."""
    if os.environ.get("PGCONNECT_TIMEOUT"):
        return True
    try:
        return bool(conninfo_to_dict(dsn).get("connect_timeout"))
    except psycopg.Error:  # connect() reports the malformed DSN
        return False


def connect(
    dsn: str, *, autocommit: bool = False, connect_timeout: int | None = None, **kwargs: Any
) -> psycopg.Connection[TupleRow]:
    """Open a psycopg connection, turning a failure into one readable line.

    Args:
        dsn: The database URL or libpq connection string.
        autocommit: Open the connection in autocommit mode.
        connect_timeout: Seconds to wait for the server; by default the DSN's
            ``connect_timeout`` (or ``PGCONNECT_TIMEOUT``), else ``CONNECT_TIMEOUT``.
        **kwargs: More connection parameters for ``psycopg.connect``. With
            ``PGFLOW_TRANSACTION_POOLING`` set, ``prepare_threshold`` defaults to ``None``
            (:func:`session_kwargs`).

    Raises:
        ConnectError: the DSN is malformed or the server refuses or cannot be reached; the
            message names the host and database, never the password.
    """
    if connect_timeout is None and not _sets_timeout(dsn):
        connect_timeout = CONNECT_TIMEOUT
    kwargs = {**session_kwargs(), **kwargs}
    try:
        return psycopg.connect(
            dsn, autocommit=autocommit, connect_timeout=connect_timeout, **kwargs
        )
    except psycopg.Error as exc:
        raise connect_error(dsn, exc) from None


def connect_error(dsn: str, exc: psycopg.Error) -> ConnectError:
    """Return the one-line error for a failed connection to ``dsn`` (no password in it)."""
    if isinstance(exc, psycopg.ProgrammingError):
        return ConnectError(f"invalid database URL {redact(dsn)!r}: {_reason(exc)}")
    return ConnectError(f"cannot connect to {describe(dsn)}: {_reason(exc)}")


def _message(exc: BaseException) -> str:
    """Return the server's message with its detail and hint, or libpq's text for a lost link."""
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    if not primary:  # connection errors carry no diagnostic: libpq's own text
        return str(exc).strip()
    extra = [getattr(diag, "message_detail", None), getattr(diag, "message_hint", None)]
    return "\n".join([primary, *(e for e in extra if e)])


def translate(exc: BaseException) -> PgflowError:
    """Return the project exception for a driver error (any password in it redacted).

    Decided by SQLSTATE and constraint name only:

    - a missing schema, table or function: ``CoreNotInstalled`` (no core, no pgmq, or a core
      without this function);
    - ``foreign_key_violation`` on ``runs_flow_slug_fkey``: ``FlowNotFound``;
    - ``unique_violation`` on ``runs_pkey``: ``RunExists``;
    - ``PF001`` (the compiled shape guard): ``ShapeMismatch``;
    - ``PF010`` (``pgflow.signal`` refusing a signal): ``SignalRefused``, its message alone;
    - ``PF002`` (a schedule call names no schedule): ``ScheduleNotFound``;
    - ``PF011`` (``pgflow.explain_run`` of an unknown run): ``RunNotFound``;
    - a lost or refused connection (psycopg's ``OperationalError``): ``DatabaseUnavailable``;
    - anything else: ``DatabaseError`` with the server's message, detail and hint.
    """
    state = getattr(exc, "sqlstate", None)
    diag = getattr(exc, "diag", None)
    message = redact(_message(exc)) or type(exc).__name__
    if state in MISSING_OBJECT:
        primary = redact(getattr(diag, "message_primary", None) or message)
        return CoreNotInstalled(
            f"the pgflow core is missing or outdated here: {primary}; run `pgflow install`"
        )
    if state == FOREIGN_KEY_VIOLATION and getattr(diag, "constraint_name", None) == RUNS_FLOW_FKEY:
        return FlowNotFound(message)
    if state == UNIQUE_VIOLATION and getattr(diag, "constraint_name", None) == RUNS_PKEY:
        return RunExists(message)
    if state == SHAPE_DIFFERS:
        return ShapeMismatch(message)
    if state == SIGNAL_REFUSED:
        return SignalRefused(redact(getattr(diag, "message_primary", None) or message))
    if state == NO_SCHEDULE:
        return ScheduleNotFound(message)
    if state == NO_RUN:
        return RunNotFound(redact(getattr(diag, "message_primary", None) or message))
    if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
        return DatabaseUnavailable(message)
    return DatabaseError(message)


@contextlib.contextmanager
def translated() -> Iterator[None]:
    """Re-raise any psycopg error inside the block as the project's own exception."""
    try:
        yield
    except psycopg.Error as exc:
        raise translate(exc) from None
