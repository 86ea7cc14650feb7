"""Priorities and fairness: which ready tasks claim_tasks takes first under flow control."""

from __future__ import annotations

import uuid

from psycopg.types.json import Jsonb

from ..helpers import Conn, add_flow, claim, one, rows, start


def _start(conn: Conn, input_: object, priority: int | None = None) -> uuid.UUID:
    run_id: uuid.UUID = one(
        conn,
        "select run_id from pgflow.start_flow('f', %s, priority => %s)",
        (Jsonb(input_), priority),
    )
    return run_id


def test_a_start_priority_is_claimed_first(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}])
    early = [_start(conn, {"n": i}) for i in range(5)]
    urgent = _start(conn, {"n": "urgent"}, priority=10)
    assert one(conn, "select flow_control from pgflow.flows") is True
    (first,) = claim(conn, "f", qty=1)
    assert first.run_id == urgent
    assert [t.run_id for t in claim(conn, "f", qty=5)] == early


def test_a_low_priority_run_waits_for_the_others(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}])
    late = _start(conn, {}, priority=-1)
    others = [_start(conn, {}) for _ in range(3)]
    assert {t.run_id for t in claim(conn, "f", qty=3)} == set(others)
    assert [t.run_id for t in claim(conn, "f", qty=3)] == [late]


def test_step_priority_overrides_the_flows(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}, {"slug": "b", "priority": 5}], priority=1)
    start(conn, "f")
    assert rows(conn, "select step_slug, priority from pgflow.step_tasks order by step_slug") == [
        {"step_slug": "a", "priority": 1},
        {"step_slug": "b", "priority": 5},
    ]
    assert [t.step_slug for t in claim(conn, "f", qty=1)] == ["b"]


def test_start_flows_takes_one_priority_for_every_run(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}])
    _start(conn, {})
    batch = [
        r[0]
        for r in conn.execute(
            "select run_id from pgflow.start_flows('f', %s, priority => 3)", (Jsonb([{}, {}]),)
        ).fetchall()
    ]
    assert {t.run_id for t in claim(conn, "f", qty=2)} == set(batch)
    assert (
        rows(conn, "select priority from pgflow.runs where priority is not null")
        == [{"priority": 3}] * 2
    )


def test_a_keys_backlog_does_not_delay_another_keys_first_task(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a", "concurrency_limit": 1000, "concurrency_key": "run.c"}])
    conn.execute(
        "select pgflow.start_flows('f', (select jsonb_agg(jsonb_build_object('c', 'big'))"
        " from generate_series(1, 2000)))"
    )
    lone = [_start(conn, {"c": "lone"}) for _ in range(3)]
    batch = claim(conn, "f", qty=10)
    assert lone[0] in [t.run_id for t in batch]
    assert [t.input["run"]["c"] for t in batch].count("big") >= 5


def test_groups_are_served_round_robin(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a", "concurrency_limit": 100, "concurrency_key": "run.c"}])
    for key in ("p", "q", "r"):
        conn.execute("select pgflow.start_flows('f', %s)", (Jsonb([{"c": key}] * 4),))
    keys = [t.input["run"]["c"] for t in claim(conn, "f", qty=6)]
    assert sorted(keys) == ["p", "p", "q", "q", "r", "r"]


def test_with_more_groups_than_qty_each_claim_serves_the_next_groups(conn: Conn) -> None:
    # 25 keys, 3 ready tasks each: a session's claims of 10 walk the keys round-robin from
    # where its previous claim stopped, one task per key, so every key has its first task
    # claimed within 3 claims, and none its second before every key had its first
    add_flow(conn, "f", [{"slug": "a", "concurrency_limit": 100, "concurrency_key": "run.c"}])
    keys = [f"k{i:02}" for i in range(25)]
    conn.execute("select pgflow.start_flows('f', %s)", (Jsonb([{"c": k} for k in keys] * 3),))
    claims = [[t.input["run"]["c"] for t in claim(conn, "f", qty=10)] for _ in range(3)]
    assert claims[0] == keys[:10] and claims[1] == keys[10:20]
    assert claims[2][:5] == keys[20:] and sorted(claims[2][5:]) == keys[:5]
    assert len(set(claims[0] + claims[1] + claims[2][:5])) == 25


def test_a_full_group_does_not_stop_the_walk(conn: Conn) -> None:
    # the groups walked that are full are passed over: the claim still takes qty tasks
    add_flow(conn, "f", [{"slug": "a", "concurrency_limit": 1, "concurrency_key": "run.c"}])
    keys = [f"k{i:02}" for i in range(12)]
    conn.execute("select pgflow.start_flows('f', %s)", (Jsonb([{"c": k} for k in keys] * 2),))
    first = [t.input["run"]["c"] for t in claim(conn, "f", qty=5)]
    assert first == keys[:5]
    second = [t.input["run"]["c"] for t in claim(conn, "f", qty=10)]
    assert sorted(second) == keys[5:]
    assert claim(conn, "f", qty=10) == []


def test_a_run_priority_outranks_the_walk_over_many_groups(conn: Conn) -> None:
    # with a run started with a priority in progress, every group is visited and the urgent
    # task is taken first, even when the round-robin walk would not reach its group yet
    add_flow(conn, "f", [{"slug": "a", "concurrency_limit": 100, "concurrency_key": "run.c"}])
    conn.execute(
        "select pgflow.start_flows('f', %s)", (Jsonb([{"c": f"k{i:02}"} for i in range(30)]),)
    )
    assert len(claim(conn, "f", qty=10)) == 10
    urgent = _start(conn, {"c": "a-first"}, priority=5)
    (first,) = claim(conn, "f", qty=1)
    assert first.run_id == urgent


def _started(conn: Conn, step: str) -> int:
    count: int = one(
        conn,
        "select count(*) from pgflow.step_tasks where step_slug = %s and status = 'started'",
        (step,),
    )
    return count


def test_steps_without_limits_and_limited_groups_take_turns(conn: Conn) -> None:
    # a step with no limit of its own is claimed apart from the limited groups (one statement,
    # no admission); the two take turns going first, so a backlog of either kind holds the
    # other back by one claim at most
    add_flow(
        conn,
        "f",
        [{"slug": "a", "concurrency_limit": 1, "concurrency_key": "run.c"}, {"slug": "b"}],
    )
    conn.execute(
        "select pgflow.start_flows('f', %s)", (Jsonb([{"c": f"k{i % 4}"} for i in range(12)]),)
    )
    claims = [[t.step_slug for t in claim(conn, "f", qty=3)] for _ in range(4)]
    assert claims[0] == ["b", "b", "b"]
    assert claims[1] == ["a", "a", "a"]
    assert claims[2] == ["b", "b", "b"]
    # the fourth key's slot is free, the others are full: one a, then b
    assert sorted(claims[3]) == ["a", "b", "b"]
    assert _started(conn, "a") == 4
    # every group is full: b alone, whichever goes first
    assert [t.step_slug for t in claim(conn, "f", qty=10)] == ["b"] * 4
    assert claim(conn, "f", qty=10) == []


def test_a_step_without_limits_is_started_like_any_task(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a", "concurrency_limit": 1}, {"slug": "b", "timeout": 40}])
    run_id = _start(conn, {"x": 1})
    tasks = claim(conn, "f", qty=1)
    assert [(t.run_id, t.step_slug, t.attempt, t.timeout, t.input) for t in tasks] == [
        (run_id, "b", 1, 40, {"run": {"x": 1}})
    ]
    assert rows(
        conn,
        "select t.status, t.attempts_count, t.last_worker_id is not null as worker,"
        " q.vt > now() + interval '40 s' as hidden, q.read_ct from pgflow.step_tasks t"
        " join pgmq.q_f q on q.msg_id = t.message_id where t.step_slug = 'b'",
    ) == [{"status": "started", "attempts_count": 1, "worker": True, "hidden": True, "read_ct": 1}]
    # the limited step's one slot: taken by the next claim, never twice
    assert [t.step_slug for t in claim(conn, "f", qty=10)] == ["a"]
    _start(conn, {"x": 2})
    assert sorted(t.step_slug for t in claim(conn, "f", qty=10)) == ["b"]
    assert _started(conn, "a") == 1


def test_more_steps_without_limits_than_qty_are_served_in_turn(conn: Conn) -> None:
    # a flow priority puts the flow under flow control; all its steps share it. Each claim
    # takes its tasks step by step from a step one further than its previous claim's: every
    # step goes first once in a round of claims
    add_flow(conn, "f", [{"slug": "x"}, {"slug": "y"}, {"slug": "z"}], priority=1)
    conn.execute("select pgflow.start_flows('f', %s)", (Jsonb([{}] * 5),))
    claims = [[t.step_slug for t in claim(conn, "f", qty=2)] for _ in range(3)]
    assert all(len(set(steps)) == 1 and len(steps) == 2 for steps in claims), claims
    assert {steps[0] for steps in claims} == {"x", "y", "z"}
    # a step with fewer ready tasks than qty: the next step fills the claim
    assert [t.step_slug for t in claim(conn, "f", qty=10)].count(claims[0][0]) == 3


def test_each_step_without_limits_goes_first_beside_limited_groups(conn: Conn) -> None:
    # two steps with no limit and a limited one, all with backlogs: the claims alternate
    # between the kinds, and the steps with no limit take turns at going first on theirs
    add_flow(
        conn,
        "f",
        [
            {"slug": "a", "concurrency_limit": 1, "concurrency_key": "run.c"},
            {"slug": "x"},
            {"slug": "y"},
        ],
    )
    conn.execute(
        "select pgflow.start_flows('f', %s)", (Jsonb([{"c": f"k{i}"} for i in range(10)]),)
    )
    claims = [{t.step_slug for t in claim(conn, "f", qty=3)} for _ in range(4)]
    assert claims[1] == claims[3] == {"a"}
    assert sorted(s for steps in (claims[0], claims[2]) for s in steps) == ["x", "y"]


def test_a_run_priority_sends_steps_without_limits_through_the_ordered_claim(
    conn: Conn,
) -> None:
    # with a run started with a priority in progress, the steps with no limit are taken by
    # priority together with the limited groups, whichever would have gone first
    add_flow(
        conn,
        "f",
        [{"slug": "a", "concurrency_limit": 5, "concurrency_key": "run.c"}, {"slug": "b"}],
    )
    conn.execute("select pgflow.start_flows('f', %s)", (Jsonb([{"c": "p"}] * 6),))
    urgent = _start(conn, {"c": "q"}, priority=5)
    batch = claim(conn, "f", qty=2)
    assert {(t.run_id, t.step_slug) for t in batch} == {(urgent, "a"), (urgent, "b")}
    batch = claim(conn, "f", qty=2)
    assert urgent not in {t.run_id for t in batch} and len(batch) == 2
