"""The transaction-pooling switch: which connections prepare no statements on the server.

The worker and client working through a real PgBouncer are in tests/e2e/test_pgbouncer.py.
"""

from __future__ import annotations

import pytest

from pgflow_yaml import db
from pgflow_yaml.client import Client


@pytest.mark.parametrize("value", ["1", "true", "YES", " on "])
def test_the_variable_turns_it_on(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(db.POOLING_ENV, value)
    assert db.transaction_pooling() is True
    assert db.session_kwargs() == {"prepare_threshold": None}
    assert db.transaction_pooling(False) is False  # an explicit choice wins


@pytest.mark.parametrize("value", [None, "", "0", "false", "no"])
def test_off_by_default(monkeypatch: pytest.MonkeyPatch, value: str | None) -> None:
    if value is None:
        monkeypatch.delenv(db.POOLING_ENV, raising=False)
    else:
        monkeypatch.setenv(db.POOLING_ENV, value)
    assert db.transaction_pooling() is False
    assert db.session_kwargs() == {}
    assert db.session_kwargs(True) == {"prepare_threshold": None}


def test_connect_follows_the_variable(monkeypatch: pytest.MonkeyPatch, pg_server_url: str) -> None:
    monkeypatch.delenv(db.POOLING_ENV, raising=False)
    with db.connect(pg_server_url) as conn:
        assert conn.prepare_threshold == 5  # psycopg's default
    monkeypatch.setenv(db.POOLING_ENV, "1")
    with db.connect(pg_server_url) as conn:
        assert conn.prepare_threshold is None
    with db.connect(pg_server_url, prepare_threshold=2) as conn:
        assert conn.prepare_threshold == 2  # a caller's own choice wins


def test_client_prepares_nothing_when_told(dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(db.POOLING_ENV, raising=False)
    with Client(dsn, transaction_pooling=True) as client:
        for _ in range(8):  # past psycopg's prepare threshold
            assert client.runs(limit=1) == []
        assert client._conn is not None and client._conn.prepare_threshold is None
        assert client._conn.execute("select count(*) from pg_prepared_statements").fetchone() == (
            0,
        )
    with Client(dsn) as client:
        client.runs(limit=1)
        assert client._conn is not None and client._conn.prepare_threshold == 5
