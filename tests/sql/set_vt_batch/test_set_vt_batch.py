"""set_vt_batch sets each message's visibility timeout in one call."""

import psycopg
import pytest

from ..helpers import Conn, one, rows


def test_sets_each_offset(conn: Conn) -> None:
    conn.execute("select pgmq.create('q1')")
    ids = [one(conn, "select pgmq.send('q1', '{}'::jsonb)") for _ in range(2)]
    result = rows(
        conn,
        "select msg_id, extract(epoch from vt - clock_timestamp())::int as wait, last_read_at"
        " from pgflow.set_vt_batch('q1', %s, array[10, 100]) order by msg_id",
        (ids,),
    )
    assert [r["msg_id"] for r in result] == ids
    assert 9 <= result[0]["wait"] <= 10 and 99 <= result[1]["wait"] <= 100


def test_empty_array_returns_nothing(conn: Conn) -> None:
    conn.execute("select pgmq.create('q1')")
    assert rows(conn, "select * from pgflow.set_vt_batch('q1', '{}', '{}')") == []


def test_rejects_length_mismatch(conn: Conn) -> None:
    conn.execute("select pgmq.create('q1')")
    with pytest.raises(psycopg.errors.RaiseException) as err:
        conn.execute("select pgflow.set_vt_batch('q1', array[1, 2]::bigint[], array[1])")
    assert err.value.diag.message_primary == "msg_ids length (2) must equal vt_offsets length (1)"


def test_returns_pgmq_message_records(conn: Conn) -> None:
    conn.execute("select pgmq.create('q1')")
    msg_id = one(conn, "select pgmq.send('q1', '{\"k\": 1}'::jsonb)")
    (row,) = rows(
        conn, "select * from pgflow.set_vt_batch('q1', array[%s]::bigint[], array[5])", (msg_id,)
    )
    assert list(row) == [
        "msg_id",
        "read_ct",
        "enqueued_at",
        "last_read_at",
        "vt",
        "message",
        "headers",
    ]
    assert row["message"] == {"k": 1}


@pytest.mark.parametrize(
    "args",
    [
        "array[1]::bigint[], null",
        "null, array[1]",
        "null, null",
    ],
)
def test_null_array_returns_nothing_as_in_0_8_1(conn: Conn, args: str) -> None:
    conn.execute("select pgmq.create('q1')")
    msg_id = one(conn, "select pgmq.send('q1', '{}'::jsonb)")
    vt_before = one(conn, "select vt from pgmq.q_q1 where msg_id = %s", (msg_id,))
    assert rows(conn, f"select * from pgflow.set_vt_batch('q1', {args})") == []
    assert one(conn, "select vt from pgmq.q_q1 where msg_id = %s", (msg_id,)) == vt_before
