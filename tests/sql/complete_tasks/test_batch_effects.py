"""What a complete_tasks batch does beyond its tasks: archived messages and started steps.

The batch archives its messages with one pgmq call per flow and starts the steps it made ready
with one queue insert per flow; the outcome must be the one of completing the tasks one by one
(the order of the new messages follows the batch), except that every task of the batch is
recorded before conditions are resolved (the last test).
"""

import json
from typing import Any

from ..helpers import (
    Conn,
    Task,
    add_flow,
    claim,
    complete,
    make_visible,
    rows,
    run_row,
    start,
    step_state,
    step_statuses,
    task_statuses,
)


def _complete_tasks(conn: Conn, items: list[tuple[Task, Any]]) -> list[tuple[str, int, str]]:
    """Complete ``(task, output)`` pairs in one batch; return (step, index, status) per row."""
    batch = json.dumps(
        [
            {
                "run_id": str(t.run_id),
                "step_slug": t.step_slug,
                "task_index": t.task_index,
                "attempt": t.attempt,
                "output": output,
            }
            for t, output in items
        ]
    )
    return [
        (r["step_slug"], r["task_index"], r["status"])
        for r in rows(conn, "select * from pgflow.complete_tasks(%s::jsonb)", (batch,))
    ]


def _queued(conn: Conn, flow_slug: str) -> list[tuple[str, str, int]]:
    """Return (run_id, step_slug, task_index) of the messages in the flow's queue by msg_id."""
    return [
        (m["message"]["run_id"], m["message"]["step_slug"], m["message"]["task_index"])
        for m in rows(conn, f"select message from pgmq.q_{flow_slug} order by msg_id")
    ]


def _msg_ids(conn: Conn, table: str) -> list[int]:
    """Return the msg_ids of a pgmq queue or archive table, in order."""
    return [r["msg_id"] for r in rows(conn, f"select msg_id from pgmq.{table} order by msg_id")]


def _by_step(tasks: list[Task]) -> dict[tuple[Any, str, int], Task]:
    return {(t.run_id, t.step_slug, t.task_index): t for t in tasks}


def test_starts_the_dependents_of_runs_of_two_flows(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}, {"slug": "b", "deps": ["a"]}])
    add_flow(conn, "g", [{"slug": "x"}, {"slug": "y", "deps": ["x"], "step_type": "map"}])
    run_f = start(conn, "f", {"who": "f"})
    run_g = start(conn, "g", {"who": "g"})
    tasks = _by_step(claim(conn, ["f", "g"]))
    done = _complete_tasks(conn, [(tasks[run_f, "a", 0], 1), (tasks[run_g, "x", 0], [10, 20])])
    assert done == [("a", 0, "completed"), ("x", 0, "completed")]
    assert step_statuses(conn, run_f) == {"a": "completed", "b": "started"}
    assert step_statuses(conn, run_g) == {"x": "completed", "y": "started"}
    assert task_statuses(conn, run_f) == {("a", 0): "completed", ("b", 0): "queued"}
    assert task_statuses(conn, run_g) == {
        ("x", 0): "completed",
        ("y", 0): "queued",
        ("y", 1): "queued",
    }
    assert _queued(conn, "f") == [(str(run_f), "b", 0)]
    assert _queued(conn, "g") == [(str(run_g), "y", 0), (str(run_g), "y", 1)]
    inputs = {(t.flow_slug, t.step_slug, t.task_index): t.input for t in claim(conn, ["f", "g"])}
    assert inputs == {
        ("f", "b", 0): {"run": {"who": "f"}, "a": 1},
        ("g", "y", 0): 10,
        ("g", "y", 1): 20,
    }


def test_moves_the_completed_messages_to_each_flows_archive(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "m", "step_type": "map"}])
    add_flow(conn, "g", [{"slug": "a"}])
    run_f = start(conn, "f", [1, 2, 3])
    run_g = start(conn, "g")
    tasks = _by_step(claim(conn, ["f", "g"]))
    m0, m1, m2 = (tasks[run_f, "m", i] for i in range(3))
    a = tasks[run_g, "a", 0]
    _complete_tasks(conn, [(m2, "two"), (a, "done"), (m0, "zero")])
    assert _msg_ids(conn, "q_f") == [m1.msg_id]
    assert _msg_ids(conn, "a_f") == sorted([m0.msg_id, m2.msg_id])
    assert _msg_ids(conn, "q_g") == []
    assert _msg_ids(conn, "a_g") == [a.msg_id]


def test_new_messages_follow_the_batch_order(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}, {"slug": "b", "deps": ["a"]}])
    first, second = start(conn, "f"), start(conn, "f")
    tasks = _by_step(claim(conn, "f"))
    _complete_tasks(conn, [(tasks[second, "a", 0], 2), (tasks[first, "a", 0], 1)])
    assert _queued(conn, "f") == [(str(second), "b", 0), (str(first), "b", 0)]


def test_stale_attempt_keeps_the_current_attempts_message(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}], base_delay=0)
    stale_run, other_run = start(conn, "f"), start(conn, "f")
    tasks = _by_step(claim(conn, "f"))
    stale = tasks[stale_run, "a", 0]
    conn.execute(
        "select pgflow.fail_task(%s, 'a', 0, 'boom', attempt => %s)", (stale_run, stale.attempt)
    )
    make_visible(conn, "f")
    (current,) = claim(conn, "f")
    assert (current.run_id, current.attempt, current.msg_id) == (stale_run, 2, stale.msg_id)
    done = _complete_tasks(conn, [(stale, "late"), (tasks[other_run, "a", 0], "ok")])
    assert done == [("a", 0, "started"), ("a", 0, "completed")]
    task = rows(conn, "select * from pgflow.step_tasks where run_id = %s", (stale_run,))[0]
    assert (task["status"], task["attempts_count"], task["output"]) == ("started", 2, None)
    assert step_state(conn, stale_run, "a")["status"] == "started"
    assert _msg_ids(conn, "q_f") == [stale.msg_id]
    assert _msg_ids(conn, "a_f") == [tasks[other_run, "a", 0].msg_id]


def test_item_of_a_queued_task_keeps_its_message(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}])
    run_id = start(conn, "f")
    (msg_id,) = _msg_ids(conn, "q_f")
    batch = json.dumps([{"run_id": str(run_id), "step_slug": "a", "task_index": 0, "output": 1}])
    done = rows(conn, "select status from pgflow.complete_tasks(%s::jsonb)", (batch,))
    assert done == [{"status": "queued"}]
    assert task_statuses(conn, run_id) == {("a", 0): "queued"}
    assert _msg_ids(conn, "q_f") == [msg_id]
    assert _msg_ids(conn, "a_f") == []


def test_part_of_a_map_starts_nothing(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "m", "step_type": "map"}, {"slug": "n", "deps": ["m"]}])
    run_id = start(conn, "f", [1, 2])
    tasks = _by_step(claim(conn, "f"))
    done = _complete_tasks(conn, [(tasks[run_id, "m", 0], "one")])
    assert done == [("m", 0, "completed")]
    m = step_state(conn, run_id, "m")
    assert (m["status"], m["remaining_tasks"], m["output"]) == ("started", 1, None)
    assert step_statuses(conn, run_id) == {"m": "started", "n": "created"}
    assert task_statuses(conn, run_id) == {("m", 0): "completed", ("m", 1): "started"}
    assert _msg_ids(conn, "q_f") == [tasks[run_id, "m", 1].msg_id]


def test_type_violation_fails_its_run_and_the_rest_of_the_batch_goes_on(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}, {"slug": "m", "deps": ["a"], "step_type": "map"}])
    add_flow(conn, "g", [{"slug": "x"}, {"slug": "y", "deps": ["x"]}])
    bad, good = start(conn, "f"), start(conn, "f")
    other = start(conn, "g")
    tasks = _by_step(claim(conn, ["f", "g"]))
    done = _complete_tasks(
        conn,
        [
            (tasks[good, "a", 0], [1, 2]),
            (tasks[bad, "a", 0], {"not": "array"}),
            (tasks[other, "x", 0], 5),
        ],
    )
    assert done == [("a", 0, "completed"), ("a", 0, "failed"), ("x", 0, "completed")]
    assert run_row(conn, bad)["status"] == "failed"
    failed = step_state(conn, bad, "a")
    assert (failed["status"], failed["error_message"]) == (
        "failed",
        "[TYPE_VIOLATION] Map step m expects array input but dependency a produced object",
    )
    assert step_statuses(conn, bad) == {"a": "failed", "m": "cancelled"}
    assert step_statuses(conn, good) == {"a": "completed", "m": "started"}
    assert step_statuses(conn, other) == {"x": "completed", "y": "started"}
    assert _queued(conn, "f") == [(str(good), "m", 0), (str(good), "m", 1)]
    assert _queued(conn, "g") == [(str(other), "y", 0)]
    assert _msg_ids(conn, "a_f") == sorted([tasks[good, "a", 0].msg_id, tasks[bad, "a", 0].msg_id])


def test_a_run_failed_later_in_the_batch_ends_as_one_by_one(conn: Conn) -> None:
    # a's completion makes b ready; c's type violation, later in the same batch, fails the run
    steps: list[dict[str, Any]] = [
        {"slug": "a"},
        {"slug": "c"},
        {"slug": "b", "deps": ["a"]},
        {"slug": "m", "deps": ["c"], "step_type": "map"},
    ]
    add_flow(conn, "f", steps)
    one_by_one, batched = start(conn, "f"), start(conn, "f")
    tasks = _by_step(claim(conn, "f"))
    complete(conn, tasks[one_by_one, "a", 0], 1)
    complete(conn, tasks[one_by_one, "c", 0], {"not": "array"})
    _complete_tasks(conn, [(tasks[batched, "a", 0], 1), (tasks[batched, "c", 0], {"not": "array"})])
    assert run_row(conn, batched)["status"] == run_row(conn, one_by_one)["status"] == "failed"
    assert step_statuses(conn, batched) == step_statuses(conn, one_by_one)
    assert task_statuses(conn, batched) == task_statuses(conn, one_by_one)


def test_a_whole_map_in_one_batch_completes_with_outputs_in_task_order(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "m", "step_type": "map"}, {"slug": "n", "deps": ["m"]}])
    run_id = start(conn, "f", [1, 2, 3])
    tasks = _by_step(claim(conn, "f"))
    done = _complete_tasks(
        conn,
        [(tasks[run_id, "m", 2], "c"), (tasks[run_id, "m", 0], "a"), (tasks[run_id, "m", 1], "b")],
    )
    assert done == [("m", 2, "completed"), ("m", 0, "completed"), ("m", 1, "completed")]
    m = step_state(conn, run_id, "m")
    assert (m["status"], m["remaining_tasks"], m["output"]) == ("completed", 0, ["a", "b", "c"])
    assert run_row(conn, run_id)["remaining_steps"] == 1
    assert _queued(conn, "f") == [(str(run_id), "n", 0)]
    (n,) = claim(conn, "f")
    assert n.input == {"run": [1, 2, 3], "m": ["a", "b", "c"]}


def test_both_parents_in_one_batch_start_the_child_once(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}, {"slug": "b"}, {"slug": "c", "deps": ["a", "b"]}])
    run_id = start(conn, "f")
    tasks = _by_step(claim(conn, "f"))
    _complete_tasks(conn, [(tasks[run_id, "b", 0], "B"), (tasks[run_id, "a", 0], "A")])
    c = step_state(conn, run_id, "c")
    assert (c["status"], c["remaining_deps"], c["remaining_tasks"]) == ("started", 0, 1)
    assert _queued(conn, "f") == [(str(run_id), "c", 0)]
    (child,) = claim(conn, "f")
    assert child.input == {"run": {}, "a": "A", "b": "B"}


def test_a_duplicate_item_changes_nothing(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}, {"slug": "b", "deps": ["a"]}])
    run_id = start(conn, "f")
    (task,) = claim(conn, "f")
    done = _complete_tasks(conn, [(task, "first"), (task, "second")])
    assert done == [("a", 0, "completed"), ("a", 0, "completed")]
    a = step_state(conn, run_id, "a")
    assert (a["status"], a["output"]) == ("completed", "first")
    assert run_row(conn, run_id)["remaining_steps"] == 1
    assert task_statuses(conn, run_id) == {("a", 0): "completed", ("b", 0): "queued"}
    assert _queued(conn, "f") == [(str(run_id), "b", 0)]
    assert _msg_ids(conn, "a_f") == [task.msg_id]


def test_conditions_of_the_steps_a_batch_makes_ready_are_resolved(conn: Conn) -> None:
    add_flow(
        conn,
        "f",
        [
            {"slug": "a"},
            {"slug": "b", "deps": ["a"], "required_input_pattern": {"a": {"go": True}}},
        ],
    )
    go, stay = start(conn, "f"), start(conn, "f")
    tasks = _by_step(claim(conn, "f"))
    _complete_tasks(conn, [(tasks[go, "a", 0], {"go": True}), (tasks[stay, "a", 0], {"go": False})])
    assert step_statuses(conn, go) == {"a": "completed", "b": "started"}
    skipped = step_state(conn, stay, "b")
    assert (skipped["status"], skipped["skip_reason"]) == ("skipped", "condition_unmet")
    run = run_row(conn, stay)
    assert (run["status"], run["output"]) == ("completed", None)
    assert _queued(conn, "f") == [(str(go), "b", 0)]


def test_a_when_unmet_fail_sees_the_whole_batch_recorded(conn: Conn) -> None:
    # one by one, a's completion fails the run and b's report comes too late (b is cancelled);
    # in a batch both are recorded before the condition fails the run (documented in sql/0341)
    steps: list[dict[str, Any]] = [
        {"slug": "a"},
        {"slug": "b"},
        {
            "slug": "c",
            "deps": ["a"],
            "required_input_pattern": {"a": {"go": True}},
            "when_unmet": "fail",
        },
    ]
    add_flow(conn, "f", steps)
    one_by_one, batched = start(conn, "f"), start(conn, "f")
    tasks = _by_step(claim(conn, "f"))
    complete(conn, tasks[one_by_one, "a", 0], {"go": False})
    complete(conn, tasks[one_by_one, "b", 0], 2)
    _complete_tasks(conn, [(tasks[batched, "a", 0], {"go": False}), (tasks[batched, "b", 0], 2)])
    assert run_row(conn, batched)["status"] == run_row(conn, one_by_one)["status"] == "failed"
    assert task_statuses(conn, one_by_one)["b", 0] == "cancelled"
    assert task_statuses(conn, batched)["b", 0] == "completed"
