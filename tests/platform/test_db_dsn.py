"""DSN resolution, password redaction and the connect helper's one-line errors."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from pgflow_yaml import db


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgresql://u:secret@h:5432/db", "postgresql://u:***@h:5432/db"),
        ("postgres://u:p@ss:w@rd@host/db?x=1", "postgres://u:***@host/db?x=1"),
        ("postgresql://:pw@h/db", "postgresql://:***@h/db"),
        ("postgresql+psycopg://u:pw@h/db", "postgresql+psycopg://u:***@h/db"),
        ("error at postgresql://u:pw@h/db: boom", "error at postgresql://u:***@h/db: boom"),
        (
            "postgresql://u@h/db?password=s3&sslmode=require",
            "postgresql://u@h/db?password=***&sslmode=require",
        ),
        ("host=h password=secret user=u", "host=h password=*** user=u"),
        ("host=h password = 'sec ret\\' x' dbname=d", "host=h password = '***' dbname=d"),
        ("PGPASSWORD=hunter2 pgflow run", "PGPASSWORD=*** pgflow run"),
        ("{'host': 'h', 'password': 's3'}", "{'host': 'h', 'password': '***'}"),
        ('{"password":"s3","user":"u"}', '{"password":"***","user":"u"}'),
        ("passwd=abc", "passwd=***"),
    ],
)
def test_redact_hides_every_password_form(text: str, expected: str) -> None:
    assert db.redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "postgresql://postgres:@/postgres?host=/srv/app/.pgflow/db",
        "postgresql://u@h/db",
        "the password is checked later",
        "user:pass@host is not a URL",
        "bypass=1 compass: north",
    ],
)
def test_redact_leaves_text_without_a_password_alone(text: str) -> None:
    assert db.redact(text) == text


@pytest.mark.parametrize(
    ("dsn", "expected"),
    [
        ("postgresql://u:secret@127.0.0.1:5433/db", '127.0.0.1:5433, database "db", user "u"'),
        (
            "postgresql://postgres:@/postgres?host=/srv/x",
            'socket /srv/x, database "postgres", user "postgres"',
        ),
        ("host=h port=1 dbname=d password=z", 'h:1, database "d"'),
        ("postgresql://u:secret@h:5432/db?oops", "postgresql://u:***@h:5432/db?oops"),
    ],
)
def test_describe_names_the_server_never_the_password(dsn: str, expected: str) -> None:
    assert db.describe(dsn) == expected


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_connect_refused_is_one_line_naming_the_host() -> None:
    port = _closed_port()
    with pytest.raises(db.ConnectError) as info:
        db.connect(f"postgresql://app:hunter2@127.0.0.1:{port}/orders", connect_timeout=3)
    message = str(info.value)
    assert message == (
        f'cannot connect to 127.0.0.1:{port}, database "orders", user "app": Connection refused'
    )
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_connect_with_a_malformed_dsn_hides_the_password() -> None:
    with pytest.raises(db.ConnectError) as info:
        db.connect("host=h password=hunter2 oops")
    assert "hunter2" not in str(info.value)
    assert str(info.value).startswith("invalid database URL 'host=h password=*** oops'")


@pytest.mark.parametrize(
    ("dsn", "env", "argument", "expected"),
    [
        ("postgresql://u@h/db", None, None, str(db.CONNECT_TIMEOUT)),
        ("postgresql://u@h/db?connect_timeout=3", None, None, "3"),
        ("host=h connect_timeout=4", None, None, "4"),
        ("postgresql://u@h/db", "5", None, None),  # libpq reads PGCONNECT_TIMEOUT itself
        ("postgresql://u@h/db?connect_timeout=3", None, 6, "6"),
    ],
)
def test_connect_keeps_the_timeout_the_user_chose(
    monkeypatch: pytest.MonkeyPatch,
    dsn: str,
    env: str | None,
    argument: int | None,
    expected: str | None,
) -> None:
    """The DSN's ``connect_timeout`` or ``PGCONNECT_TIMEOUT`` wins over the default."""
    if env is None:
        monkeypatch.delenv("PGCONNECT_TIMEOUT", raising=False)
    else:
        monkeypatch.setenv("PGCONNECT_TIMEOUT", env)
    seen: list[dict[str, Any]] = []

    def fake_connect(conninfo: str, *, autocommit: bool, **kwargs: Any) -> None:
        seen.append(conninfo_to_dict(make_conninfo(conninfo, **kwargs)))

    monkeypatch.setattr(psycopg, "connect", fake_connect)
    db.connect(dsn, connect_timeout=argument)
    assert seen[0].get("connect_timeout") == expected


def test_connect_to_a_missing_database(pg_server_url: str) -> None:
    dsn = db.with_dbname(pg_server_url, "pgflow_no_such_db_f")
    with pytest.raises(db.ConnectError, match=r'database "pgflow_no_such_db_f" does not exist$'):
        db.connect(dsn)


def test_connect_returns_a_working_connection(pg_server_url: str) -> None:
    with db.connect(pg_server_url, autocommit=True) as conn:
        assert conn.autocommit
        assert conn.execute("select 6 * 7").fetchone() == (42,)


def test_with_dbname_keeps_the_rest_of_the_dsn() -> None:
    dsn = db.with_dbname("postgresql://u:pw@h:5433/a?sslmode=disable", "b")
    params = psycopg.conninfo.conninfo_to_dict(dsn)
    assert params == {
        "user": "u",
        "password": "pw",
        "host": "h",
        "port": "5433",
        "dbname": "b",
        "sslmode": "disable",
    }


def test_resolve_dsn_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PGFLOW_DATABASE_URL", "postgresql://a@h/pgflow")
    monkeypatch.setenv("DATABASE_URL", "postgresql://b@h/generic")
    assert db.resolve_dsn("postgresql://c@h/flag") == "postgresql://c@h/flag"
    assert db.resolve_dsn(None) == "postgresql://a@h/pgflow"
    monkeypatch.setenv("PGFLOW_DATABASE_URL", "")
    assert db.resolve_dsn(None) == "postgresql://b@h/generic"


def test_resolve_dsn_falls_back_to_the_embedded_server_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("PGFLOW_DATABASE_URL", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    (tmp_path / "unrelated.txt").write_text("x")
    from pgflow_yaml.embedded import EmbeddedServerError

    # A folder with other files is refused before any server starts: proves which folder is used.
    with pytest.raises(EmbeddedServerError, match=str(tmp_path)):
        db.resolve_dsn(None, embedded_dir=tmp_path)
