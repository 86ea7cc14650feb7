"""Several connections completing tasks of one wide map at once lose no update, nor deadlock."""

import threading

import psycopg

from ..helpers import Conn, Task, add_flow, claim, complete, run_row, start, step_state

WIDTH = 120
THREADS = 6


def test_parallel_completions_of_one_run(conn: Conn, dsn: str) -> None:
    add_flow(conn, "f", [{"slug": "m", "step_type": "map"}, {"slug": "s", "deps": ["m"]}])
    run_id = start(conn, "f", list(range(WIDTH)))
    tasks = claim(conn, "f", qty=WIDTH)
    assert len(tasks) == WIDTH
    errors: list[BaseException] = []
    barrier = threading.Barrier(THREADS)

    def work(share: list[Task]) -> None:
        try:
            with psycopg.connect(dsn, autocommit=True) as own:
                barrier.wait()
                for task in share:
                    complete(own, task, task.input * 2)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(tasks[i::THREADS],)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    m = step_state(conn, run_id, "m")
    assert (m["status"], m["remaining_tasks"]) == ("completed", 0)
    assert m["output"] == [i * 2 for i in range(WIDTH)]
    (s,) = claim(conn, "f")
    complete(conn, s, "done")
    assert run_row(conn, run_id)["status"] == "completed"
