"""complete_tasks completes a batch of tasks, of several runs, in one transaction."""

import json
import threading

import psycopg
import pytest

from ..helpers import Conn, Task, add_flow, claim, rows, run_row, start, step_state


def _results(tasks: list[Task]) -> str:
    return json.dumps(
        [
            {
                "run_id": str(t.run_id),
                "step_slug": t.step_slug,
                "task_index": t.task_index,
                "attempt": t.attempt,
                "output": t.input,
            }
            for t in tasks
        ]
    )


def test_completes_a_batch_across_runs(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "m", "step_type": "map"}])
    runs = [start(conn, "f", [i, i + 1]) for i in range(3)]
    tasks = claim(conn, "f", qty=10)
    done = rows(conn, "select status from pgflow.complete_tasks(%s::jsonb)", (_results(tasks),))
    assert [r["status"] for r in done] == ["completed"] * 6
    assert [run_row(conn, r)["output"] for r in runs] == [{"m": [i, i + 1]} for i in range(3)]


def test_missing_output_is_json_null(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}])
    run_id = start(conn, "f")
    (_task,) = claim(conn, "f")
    batch = json.dumps([{"run_id": str(run_id), "step_slug": "a", "task_index": 0}])
    conn.execute("select pgflow.complete_tasks(%s::jsonb)", (batch,))
    assert step_state(conn, run_id, "a")["output"] is None
    assert run_row(conn, run_id)["output"] == {"a": None}


def test_rejects_malformed_batches(conn: Conn) -> None:
    with pytest.raises(psycopg.errors.RaiseException) as err:
        conn.execute("select pgflow.complete_tasks('{}'::jsonb)")
    assert err.value.diag.message_primary == "complete_tasks expects a JSON array, got object"
    with pytest.raises(psycopg.errors.RaiseException) as err:
        conn.execute("""select pgflow.complete_tasks('[{"run_id": null}]'::jsonb)""")
    assert err.value.diag.message_primary == 'complete_tasks item 0 lacks "run_id"'


def test_batches_of_crossing_runs_do_not_deadlock(conn: Conn, dsn: str) -> None:
    add_flow(conn, "f", [{"slug": "m", "step_type": "map"}])
    runs = [start(conn, "f", list(range(20))) for _ in range(4)]
    tasks = claim(conn, "f", qty=80)
    forward = sorted(tasks, key=lambda t: (str(t.run_id), t.task_index))
    halves = [forward[0::2], list(reversed(forward[1::2]))]
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def work(share: list[Task]) -> None:
        try:
            with psycopg.connect(dsn, autocommit=True) as own:
                barrier.wait()
                for i in range(0, len(share), 5):
                    own.execute(
                        "select pgflow.complete_tasks(%s::jsonb)", (_results(share[i : i + 5]),)
                    )
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(half,)) for half in halves]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert [run_row(conn, r)["output"] for r in runs] == [{"m": list(range(20))}] * 4
