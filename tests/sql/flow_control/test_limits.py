"""Step concurrency and rate limits, enforced inside claim_tasks and start_tasks."""

from __future__ import annotations

import uuid

from psycopg.types.json import Jsonb

from ..helpers import (
    Conn,
    add_flow,
    age_started_tasks,
    claim,
    complete,
    fail,
    make_visible,
    one,
    rows,
    start,
)


def _keyed(conn: Conn, limit: int = 2, **step: object) -> None:
    add_flow(
        conn,
        "f",
        [
            {"slug": "a", "concurrency_limit": limit, "concurrency_key": "run.c", **step},
            {"slug": "b", "deps": ["a"]},
        ],
    )


def _start_many(conn: Conn, inputs: list[object], priority: int | None = None) -> list[uuid.UUID]:
    return [
        r[0]
        for r in conn.execute(
            "select run_id from pgflow.start_flows('f', %s, priority => %s)",
            (Jsonb(inputs), priority),
        ).fetchall()
    ]


def _started(conn: Conn, key: str | None = None) -> int:
    count: int = one(
        conn,
        "select count(*) from pgflow.step_tasks where step_slug = 'a' and status = 'started'"
        " and (%s::text is null or fc_key = %s)",
        (key, key),
    )
    return count


def test_keyed_limit_holds_per_key_value(conn: Conn) -> None:
    _keyed(conn)
    _start_many(conn, [{"c": "x"}, {"c": "x"}, {"c": "x"}, {"c": "y"}])
    first = claim(conn, "f")
    assert sorted(t.input["run"]["c"] for t in first) == ["x", "x", "y"]
    assert claim(conn, "f") == []
    assert (_started(conn, "x"), _started(conn, "y")) == (2, 1)
    complete(conn, next(t for t in first if t.input["run"]["c"] == "x"), {})
    (third,) = [t for t in claim(conn, "f") if t.step_slug == "a"]
    assert third.input == {"run": {"c": "x"}}
    assert _started(conn, "x") == 2


def test_unkeyed_limit_counts_the_whole_step(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a", "concurrency_limit": 1}])
    _start_many(conn, [{}, {}, {}])
    assert len(claim(conn, "f")) == 1
    assert claim(conn, "f") == []


def test_held_back_task_keeps_its_attempts_and_stays_queued(conn: Conn) -> None:
    _keyed(conn, limit=1)
    _start_many(conn, [{"c": "x"}, {"c": "x"}])
    claim(conn, "f")
    assert claim(conn, "f") == []
    assert rows(
        conn,
        "select status, attempts_count, requeued_count from pgflow.step_tasks order by message_id",
    ) == [
        {"status": "started", "attempts_count": 1, "requeued_count": 0},
        {"status": "queued", "attempts_count": 0, "requeued_count": 0},
    ]
    assert one(conn, "select pgflow.requeue_stalled_tasks()") == 0


def test_start_tasks_of_the_081_protocol_obeys_the_limit(conn: Conn) -> None:
    _keyed(conn, limit=1)
    _start_many(conn, [{"c": "x"}, {"c": "x"}, {"c": "x"}])
    msg_ids = [r[0] for r in conn.execute("select msg_id from pgmq.read('f', 5, 10)").fetchall()]
    assert len(msg_ids) == 3
    started = conn.execute(
        "select step_slug from pgflow.start_tasks('f', %s, gen_random_uuid())", (msg_ids,)
    ).fetchall()
    assert len(started) == 1
    # the held-back messages are hidden for a moment (1 s), their tasks untouched
    assert (
        rows(
            conn,
            "select t.status, t.attempts_count, q.vt > clock_timestamp() as hidden"
            " from pgflow.step_tasks t join pgmq.q_f q on q.msg_id = t.message_id"
            " where t.status = 'queued'",
        )
        == [{"status": "queued", "attempts_count": 0, "hidden": True}] * 2
    )


def test_the_claims_start_holds_back_what_a_start_since_the_pick_filled(conn: Conn) -> None:
    # claim_tasks starts what _fc_pick chose with _start_picked, whose statement counts the
    # group's started tasks again (a start committed between the pick's snapshot and its
    # group lock): in the order given, what no longer fits is held back as _fc_admit holds it
    _keyed(conn, limit=2)
    _start_many(conn, [{"c": "x"}] * 3 + [{"c": "y"}])
    (taken,) = claim(conn, "f", qty=1)  # x's first: one slot of two left
    msg_ids = [
        r[0]
        for r in conn.execute(
            "select message_id from pgflow.step_tasks where status = 'queued' order by message_id"
        ).fetchall()
    ]
    started = conn.execute(
        "select step_slug, input from pgflow._start_picked('f', %s, gen_random_uuid())",
        (msg_ids,),
    ).fetchall()
    assert [(step, task_input["run"]["c"]) for step, task_input in started] == [
        ("a", "x"),
        ("a", "y"),
    ]
    assert rows(
        conn,
        "select t.run_id = %s as first, t.status, t.attempts_count,"
        " q.vt > clock_timestamp() + interval '30 s' as running,"
        " q.vt > clock_timestamp() as hidden, q.read_ct"
        " from pgflow.step_tasks t join pgmq.q_f q on q.msg_id = t.message_id"
        " where t.fc_key = 'x' order by t.message_id",
        (taken.run_id,),
    ) == [
        {"first": True, "status": "started", "attempts_count": 1, "running": True,
         "hidden": True, "read_ct": 0},
        {"first": False, "status": "started", "attempts_count": 1, "running": True,
         "hidden": True, "read_ct": 0},
        {"first": False, "status": "queued", "attempts_count": 0, "running": False,
         "hidden": True, "read_ct": 0},
    ]  # fmt: skip


def test_cancel_frees_the_slot(conn: Conn) -> None:
    _keyed(conn, limit=1)
    first, second = _start_many(conn, [{"c": "x"}, {"c": "x"}])
    (task,) = claim(conn, "f")
    assert claim(conn, "f") == []
    conn.execute("select pgflow.cancel_run(%s)", (task.run_id,))
    (next_task,) = claim(conn, "f")
    assert next_task.run_id == ({first, second} - {task.run_id}).pop()


def test_a_dead_workers_slot_is_freed_when_its_task_is_requeued(conn: Conn) -> None:
    _keyed(conn, limit=1)
    _start_many(conn, [{"c": "x"}, {"c": "x"}])
    (task,) = claim(conn, "f")
    age_started_tasks(conn, task.run_id, 3600)
    assert one(conn, "select pgflow.requeue_stalled_tasks()") == 1
    again = claim(conn, "f")
    assert len(again) == 1 and _started(conn, "x") == 1


def test_retry_takes_a_slot_again(conn: Conn) -> None:
    _keyed(conn, limit=1, max_attempts=1)
    (run_id,) = _start_many(conn, [{"c": "x"}])
    (task,) = claim(conn, "f")
    fail(conn, task)
    conn.execute("select pgflow.retry_run(%s)", (run_id,))
    assert rows(conn, "select fc_key, status from pgflow.step_tasks where step_slug = 'a'") == [
        {"fc_key": "x", "status": "queued"}
    ]
    assert len(claim(conn, "f")) == 1
    assert claim(conn, "f") == []


def test_failed_attempt_frees_the_slot_and_retries_under_it(conn: Conn) -> None:
    _keyed(conn, limit=1, max_attempts=3)
    _start_many(conn, [{"c": "x"}, {"c": "x"}])
    (task,) = claim(conn, "f")
    fail(conn, task)
    make_visible(conn, "f")
    (second,) = claim(conn, "f")
    assert _started(conn, "x") == 1
    assert second.attempt in (1, 2)


def test_map_task_key_reads_its_element(conn: Conn) -> None:
    add_flow(
        conn,
        "f",
        [{"slug": "m", "step_type": "map", "concurrency_limit": 1, "concurrency_key": "region"}],
    )
    start(conn, "f", [{"region": "eu"}, {"region": "eu"}, {"region": "us"}])
    assert sorted(t.input["region"] for t in claim(conn, "f")) == ["eu", "us"]


def test_rate_limit_counts_starts_in_the_window(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a", "rate_limit": 2, "rate_per": 3600}])
    _start_many(conn, [{}, {}, {}, {}])
    tasks = claim(conn, "f")
    assert len(tasks) == 2
    for task in tasks:
        complete(conn, task, {})
    # finished starts still count: the window is about starts, not tasks in flight
    assert claim(conn, "f") == []
    assert one(conn, "select count(*) from pgflow.rate_starts") == 2
    # once the window has passed, the next starts are allowed
    conn.execute("update pgflow.rate_starts set started_at = started_at - interval '2 hours'")
    make_visible(conn, "f")
    assert len(claim(conn, "f")) == 2


def test_rate_limit_per_key(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a", "rate_limit": 1, "rate_per": 3600, "rate_key": "run.k"}])
    _start_many(conn, [{"k": 1}, {"k": 1}, {"k": 2}])
    assert sorted(t.input["run"]["k"] for t in claim(conn, "f")) == [1, 2]
    assert claim(conn, "f") == []


def test_changing_a_limit_applies_in_place_to_waiting_tasks(conn: Conn) -> None:
    _keyed(conn, limit=1)
    _start_many(conn, [{"c": "x"}, {"c": "x"}, {"c": "x"}])
    assert len(claim(conn, "f")) == 1
    conn.execute("select pgflow.add_step('f', 'a', concurrency_limit => 3)")
    make_visible(conn, "f")
    assert len(claim(conn, "f")) == 2
    # removing every limit switches flow control off: the plain claim again
    conn.execute(
        "select pgflow.add_step('f', 'a', concurrency_limit => null, concurrency_key => null)"
    )
    assert one(conn, "select flow_control from pgflow.flows") is False
    assert one(conn, "select count(*) from pgflow.step_tasks where fc_key is not null") == 0


def test_omitted_options_are_kept(conn: Conn) -> None:
    _keyed(conn, limit=4)
    conn.execute("select pgflow.add_step('f', 'a', timeout => 30)")
    assert rows(
        conn,
        "select opt_concurrency_limit, opt_concurrency_key from pgflow.steps where step_slug = 'a'",
    ) == [{"opt_concurrency_limit": 4, "opt_concurrency_key": "run.c"}]


def test_new_tasks_are_tagged_from_a_dependencys_output_and_the_run_input(conn: Conn) -> None:
    # the tags written with a new task: its concurrency key read from a dependency's output,
    # its own rate key from the run input, the step's priority
    add_flow(
        conn,
        "f",
        [
            {"slug": "a"},
            {
                "slug": "b",
                "deps": ["a"],
                "concurrency_limit": 1,
                "concurrency_key": "a.acct",
                "rate_limit": 10,
                "rate_per": 60,
                "rate_key": "run.region",
                "priority": 3,
            },
        ],
    )
    start(conn, "f", {"region": "eu"})
    start(conn, "f", {"region": "us"})
    for task, acct in zip(claim(conn, "f", qty=2), ({"id": 7}, "x"), strict=True):
        complete(conn, task, {"acct": acct})
    tags = conn.execute(
        "select t.fc_key, t.rate_key, t.priority from pgflow.step_tasks t"
        " join pgflow.runs r using (run_id) where t.step_slug = 'b' order by r.input ->> 'region'"
    ).fetchall()
    assert tags == [('{"id": 7}', "eu", 3), ("x", "us", 3)]
