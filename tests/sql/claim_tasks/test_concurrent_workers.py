"""Workers claiming and completing in parallel run every task exactly once."""

import json
import threading
import time
import uuid

import psycopg

from ..helpers import Conn, add_flow, claim, one, rows, start

RUNS = 5
WIDTH = 40
WORKERS = 4


def test_each_task_runs_once(conn: Conn, dsn: str) -> None:
    add_flow(conn, "f", [{"slug": "m", "step_type": "map"}, {"slug": "s", "deps": ["m"]}])
    runs = [start(conn, "f", list(range(WIDTH))) for _ in range(RUNS)]
    seen: list[tuple[str, str, int]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def work() -> None:
        try:
            with psycopg.connect(dsn, autocommit=True) as own:
                worker_id = uuid.uuid4()
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    tasks = claim(own, "f", qty=7, worker_id=worker_id)
                    if not tasks:
                        if one(own, "select count(*) from pgflow.runs where status = 'started'"):
                            time.sleep(0.01)
                            continue
                        break
                    with lock:
                        seen.extend((str(t.run_id), t.step_slug, t.task_index) for t in tasks)
                    results = [
                        {
                            "run_id": str(t.run_id),
                            "step_slug": t.step_slug,
                            "task_index": t.task_index,
                            "attempt": t.attempt,
                            "output": t.input,
                        }
                        for t in tasks
                    ]
                    own.execute("select pgflow.complete_tasks(%s::jsonb)", (json.dumps(results),))
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert len(seen) == len(set(seen)) == RUNS * (WIDTH + 1)
    assert one(conn, "select count(*) from pgflow.runs where status = 'completed'") == RUNS
    assert rows(conn, "select distinct attempts_count from pgflow.step_tasks") == [
        {"attempts_count": 1}
    ]
    assert claim(conn, "f") == []
    assert {str(r) for r in runs} == {s[0] for s in seen}
