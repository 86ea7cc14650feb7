"""claim_tasks reads and starts tasks in one call, with attempt, timeout and handler input."""

import hashlib
import uuid

import psycopg
import pytest

from ..helpers import Conn, add_flow, claim, one, rows, start


def test_claims_and_starts(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a", "timeout": 9}])
    run_id = start(conn, "f", {"x": 1})
    (task,) = claim(conn, "f")
    assert (task.flow_slug, task.run_id, task.step_slug, task.task_index) == ("f", run_id, "a", 0)
    assert (task.attempt, task.timeout, task.input) == (1, 9, {"run": {"x": 1}})
    assert rows(conn, "select status, attempts_count from pgflow.step_tasks") == [
        {"status": "started", "attempts_count": 1}
    ]
    assert claim(conn, "f") == []


def test_respects_qty(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "m", "step_type": "map"}])
    start(conn, "f", list(range(5)))
    assert [t.task_index for t in claim(conn, "f", qty=3)] == [0, 1, 2]
    assert [t.task_index for t in claim(conn, "f", qty=3)] == [3, 4]


def test_serves_several_flows(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}])
    add_flow(conn, "g", [{"slug": "b"}])
    start(conn, "f")
    start(conn, "g")
    assert sorted(t.step_slug for t in claim(conn, ["f", "g"])) == ["a", "b"]


def test_flow_timeout_is_inherited(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}], timeout=17)
    start(conn, "f")
    (task,) = claim(conn, "f")
    assert task.timeout == 17


def test_archives_messages_without_an_open_task(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}])
    stray = one(conn, "select pgmq.send('f', '{\"junk\": true}'::jsonb)")
    start(conn, "f")
    assert [t.step_slug for t in claim(conn, "f")] == ["a"]
    assert rows(conn, "select msg_id from pgmq.a_f") == [{"msg_id": stray}]


def test_two_claimers_never_get_the_same_task(conn: Conn, dsn: str) -> None:
    add_flow(conn, "f", [{"slug": "m", "step_type": "map"}])
    start(conn, "f", list(range(20)))
    with psycopg.connect(dsn) as other, other.transaction():
        theirs = claim(other, "f", qty=10, worker_id=uuid.uuid4())
        mine = claim(conn, "f", qty=20)
    assert len(theirs) == 10 and len(mine) == 10
    assert not {t.task_index for t in theirs} & {t.task_index for t in mine}


def test_rejects_unknown_flow(conn: Conn) -> None:
    with pytest.raises(psycopg.errors.RaiseException) as err:
        claim(conn, "nope")
    assert err.value.diag.message_primary == 'Flow "nope" does not exist'


def test_rejects_non_positive_qty(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}])
    with pytest.raises(psycopg.errors.RaiseException) as err:
        claim(conn, "f", qty=0)
    assert err.value.diag.message_primary == "qty must be positive (got 0)"


def test_a_busy_flow_does_not_starve_the_others(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a", "step_type": "map"}])
    add_flow(conn, "g", [{"slug": "b", "step_type": "map"}])
    start(conn, "f", list(range(30)))
    start(conn, "g", list(range(30)))
    conn.execute("select setseed(0.5)")
    served = {t.flow_slug for _ in range(10) for t in claim(conn, ["f", "g"], qty=2)}
    assert served == {"f", "g"}


def test_hides_a_claimed_message_for_its_step_timeout_plus_2(conn: Conn) -> None:
    # one update per message: the claim's own visibility is the step's, not vt
    add_flow(conn, "f", [{"slug": "a", "timeout": 30}])
    start(conn, "f")
    (task,) = claim(conn, "f")
    hidden = one(
        conn,
        "select extract(epoch from vt - clock_timestamp()) from pgmq.q_f where msg_id = %s",
        (task.msg_id,),
    )
    assert 25 < hidden <= 32
    assert rows(conn, "select read_ct, last_read_at is not null as read from pgmq.q_f") == [
        {"read_ct": 1, "read": True}
    ]


def test_a_message_whose_task_runs_elsewhere_is_hidden_for_vt(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a", "timeout": 30}])
    start(conn, "f")
    assert len(claim(conn, "f")) == 1
    conn.execute("update pgmq.q_f set vt = clock_timestamp() - interval '1 second'")
    assert (
        conn.execute(
            "select * from pgflow.claim_tasks(array['f'], %s, 10, 3)", (uuid.uuid4(),)
        ).fetchall()
        == []
    )
    hidden = one(conn, "select extract(epoch from vt - clock_timestamp()) from pgmq.q_f")
    assert 0 < hidden <= 3
    assert one(conn, "select read_ct from pgmq.q_f") == 2
    assert rows(conn, "select status, attempts_count from pgflow.step_tasks") == [
        {"status": "started", "attempts_count": 1}
    ]


def test_a_sessions_own_statement_under_the_claims_name_is_not_run(conn: Conn) -> None:
    # the claim prepares its statement once per session and queue under a fixed name: a
    # statement the session prepared under that name (any other text) is replaced, never run
    add_flow(conn, "f", [{"slug": "a"}])
    start(conn, "f")
    name = "pgflow_claim_" + hashlib.md5(b"q_f").hexdigest()
    conn.execute(
        f"prepare {name}(text, int, int, uuid) as"
        " select array[]::pgflow.claimed_task[], array[1]::bigint[] where $1 <> ''"
    )
    assert [t.step_slug for t in claim(conn, "f")] == ["a"]
    statement = one(conn, "select statement from pg_prepared_statements where name = %s", (name,))
    assert "array[1]" not in statement
    assert claim(conn, "f") == []
