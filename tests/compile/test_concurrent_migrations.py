"""Two sessions applying migrations of one flow at once run one after the other (the guard's
advisory lock), so the second sees what the first committed."""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg
import pytest

from pgflow_yaml.compiler import compile_flow
from tests.compile.helpers import TIMESTAMP, definition_rows, flow, order_pipeline


def changed() -> Any:
    return flow("order_pipeline", {"slug": "check"}, {"slug": "ship", "map": "check"})


def wait_for_a_blocked_advisory_lock(conn: psycopg.Connection[Any]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        row = conn.execute(
            "select count(*) from pg_locks where locktype = 'advisory' and not granted"
            " and database = (select oid from pg_database where datname = current_database())"
        ).fetchone()
        if row and row[0]:
            return
        time.sleep(0.05)
    raise AssertionError("the second migration never waited for the first")


@pytest.mark.parametrize("second_is_same", [True, False], ids=["same", "different"])
def test_second_migration_waits_and_sees_the_first(dsn: str, second_is_same: bool) -> None:
    first_sql = compile_flow(order_pipeline(), timestamp=TIMESTAMP).sql
    second_spec = order_pipeline() if second_is_same else changed()
    second_sql = compile_flow(second_spec, timestamp=TIMESTAMP).sql
    outcome: dict[str, Any] = {}

    def second() -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            try:
                conn.execute(second_sql)
                outcome["ok"] = True
            except psycopg.Error as exc:
                outcome["error"] = exc

    with psycopg.connect(dsn) as first, psycopg.connect(dsn, autocommit=True) as watcher:
        first.execute(first_sql)  # transaction left open: it holds the flow's lock
        thread = threading.Thread(target=second)
        thread.start()
        wait_for_a_blocked_advisory_lock(watcher)
        first.commit()
        thread.join(30)
        assert not thread.is_alive()
        rows = definition_rows(watcher)

    assert [r[1] for r in rows["steps"]] == ["check", "charge", "ship_item", "receipt"]
    if second_is_same:
        assert outcome == {"ok": True}
    else:
        assert outcome["error"].sqlstate == "PF001"
        assert "step count: 4 vs 2" in outcome["error"].diag.message_primary
