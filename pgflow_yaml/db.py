"""Where the database is, and how to reach it without leaking a password.

The DSN comes from ``--dsn``, else ``PGFLOW_DATABASE_URL``, else ``DATABASE_URL``, else the
embedded server (``pgflow_yaml.embedded``) with its data in ``./.pgflow/db``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import TupleRow

from pgflow_yaml.redaction import redact as redact  # db.redact: the name callers know

ENV_VARS = ("PGFLOW_DATABASE_URL", "DATABASE_URL")
EMBEDDED_DIR = Path(".pgflow") / "db"
CONNECT_TIMEOUT = 10


class DatabaseError(Exception):
    """The database cannot be used; the message is one line for the user, with no password."""


class ConnectError(DatabaseError):
    """Cannot connect to the database."""


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
        **kwargs: More connection parameters for ``psycopg.connect``.

    Raises:
        ConnectError: the DSN is malformed or the server refuses or cannot be reached; the
            message names the host and database, never the password.
    """
    if connect_timeout is None and not _sets_timeout(dsn):
        connect_timeout = CONNECT_TIMEOUT
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
