"""_prepare_once keeps one text per name, replaces a foreign one, and bounds the session's count."""

from __future__ import annotations

from ..helpers import Conn, add_flow, claim, one, rows, start

INT4 = "{pg_catalog.int4}"


def _prepare(conn: Conn, name: str, text: str) -> None:
    conn.execute("select pgflow._prepare_once(%s, %s, %s::regtype[])", (name, text, INT4))


def _ours(conn: Conn) -> list[str]:
    query = (
        "select name from pg_prepared_statements where starts_with(name, 'pgflow_') order by name"
    )
    return [r["name"] for r in rows(conn, query)]


def test_the_same_text_is_prepared_once_and_another_replaces_it(conn: Conn) -> None:
    text = "prepare pgflow_t(pg_catalog.int4) as select $1 operator(pg_catalog.+) 1"
    _prepare(conn, "pgflow_t", text)
    first = one(conn, "select prepare_time from pg_prepared_statements where name = 'pgflow_t'")
    _prepare(conn, "pgflow_t", text)
    assert one(conn, "select prepare_time from pg_prepared_statements where name = 'pgflow_t'") == (
        first
    )
    _prepare(conn, "pgflow_t", text.replace("+) 1", "+) 2"))
    assert one(conn, "execute pgflow_t(1)") == 3


def test_a_session_keeps_at_most_48_and_evicts_the_oldest(conn: Conn) -> None:
    conn.execute("prepare mine as select 1")  # the session's own: never touched
    for i in range(60):
        name = f"pgflow_n{i:02}"
        _prepare(conn, name, f"prepare {name}(pg_catalog.int4) as select $1, {i}")
    ours = _ours(conn)
    assert ours == [f"pgflow_n{i:02}" for i in range(12, 60)]
    assert one(conn, "select count(*) from pg_prepared_statements where name = 'mine'") == 1
    assert one(conn, "execute pgflow_n59(7)") == 7


def test_an_evicted_flow_statement_is_prepared_again_at_its_next_claim(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}])
    start(conn, "f")
    assert len(claim(conn, "f")) == 1
    claim_name = [n for n in _ours(conn) if n.startswith("pgflow_claim_")]
    assert len(claim_name) == 1
    for i in range(48):  # push the claim statement out
        name = f"pgflow_n{i:02}"
        _prepare(conn, name, f"prepare {name}(pg_catalog.int4) as select $1")
    assert claim_name[0] not in _ours(conn)
    start(conn, "f")
    assert len(claim(conn, "f")) == 1
    assert claim_name[0] in _ours(conn)
