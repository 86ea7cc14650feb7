"""Benchmark the dashboard's runs list with 1,000,000 runs: first page against page 1,000.

    python bench/bench_ui.py                  # 1,000,000 runs
    python bench/bench_ui.py --runs 200000

Fills a scratch database with one set-based INSERT of runs over two flows and four statuses
(started_at 50 ms apart, so they span about 14 hours), then times the ``ui_runs`` query that the
Runs page runs (``pgflow_yaml/queries/ui.sql``, keyset on (started_at, run_id), pages of 50):
the first page and page 1,000 (the keyset cursor after row 50,000), unfiltered, by flow, by
status and by run id prefix. Each figure is the median of 15 executions on one connection
without prepared statements (as the dashboard's). The ratio page 1,000 / first page is the
number to compare between machines: keyset paging keeps it near 1.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import psycopg

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path[:0] = [str(REPO), str(BENCH)]

from _pgbench import scratch_database, server_url  # noqa: E402

from pgflow_yaml import core, queries  # noqa: E402
from pgflow_yaml.ui.data import PAGE_SIZE, RunFilter  # noqa: E402

FILL = """
insert into pgflow.runs (flow_slug, status, input, started_at, completed_at, failed_at,
                         cancelled_at, remaining_steps)
select case when i %% 2 = 0 then 'bench_a' else 'bench_b' end,
       s.status, jsonb_build_object('i', i), t.started_at,
       case when s.status = 'completed' then t.started_at + interval '2 s' end,
       case when s.status = 'failed' then t.started_at + interval '1 s' end,
       case when s.status = 'cancelled' then t.started_at + interval '3 s' end,
       case when s.status = 'started' then 1 else 0 end
from generate_series(1, %(runs)s::int) as i
cross join lateral (
  select (array['completed', 'completed', 'completed', 'completed', 'completed', 'completed',
                'completed', 'failed', 'cancelled', 'started'])[1 + i %% 10] as status
) as s
cross join lateral (
  select now() - (%(runs)s::int - i) * interval '50 ms' as started_at
) as t
"""


def median_ms(conn: psycopg.Connection[Any], where: RunFilter, repeat: int = 15) -> float:
    """Return the median time of one ``ui_runs`` page, in milliseconds."""
    text = queries.sql("ui_runs")
    params = where.params(PAGE_SIZE + 1)
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        rows = conn.execute(text, params).fetchall()
        times.append((time.perf_counter() - began) * 1000)
        assert rows, f"no rows for {where}"
    return statistics.median(times)


def cursor_at(conn: psycopg.Connection[Any], where: RunFilter, row: int) -> RunFilter:
    """Return ``where`` with the keyset cursor after its ``row``-th run (found by offset)."""
    params = where.params(1)
    found = conn.execute(
        "select started_at, run_id from pgflow.runs"
        " where (%(flow_slug)s::text is null or flow_slug = %(flow_slug)s::text)"
        " and (%(status)s::text is null or status = %(status)s::text)"
        " order by started_at desc, run_id desc offset %(offset)s limit 1",
        params | {"offset": row - 1},
    ).fetchone()
    assert found is not None
    return RunFilter(where.flow_slug, where.status, where.run_id, found[0], str(found[1]))


def main() -> None:
    """Fill, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--dsn")
    args = parser.parse_args()
    with (
        scratch_database(server_url(args.dsn), "ui") as url,
        psycopg.connect(url, autocommit=True, prepare_threshold=None) as conn,
    ):
        core.install(conn)
        for slug in ("bench_a", "bench_b"):
            conn.execute("select pgflow.create_flow(%s)", [slug])
            conn.execute("select pgflow.add_step(%s, 'only')", [slug])
        began = time.perf_counter()
        conn.execute(FILL, {"runs": args.runs})
        fill = time.perf_counter() - began
        began = time.perf_counter()
        conn.execute("vacuum analyze pgflow.runs")
        analyze = time.perf_counter() - began
        print(
            f"filled {args.runs:,} runs in {fill:.1f} s (one INSERT),"
            f" vacuum analyze {analyze:.1f} s"
        )
        page_1000_row = 999 * PAGE_SIZE
        prefix = str(conn.execute("select run_id from pgflow.runs limit 1").fetchone()[0])[:6]  # type: ignore[index]
        cases = [
            ("all runs", RunFilter(), True),
            ("flow bench_a", RunFilter(flow_slug="bench_a"), True),
            ("status completed", RunFilter(status="completed"), True),
            ("status failed", RunFilter(status="failed"), True),
            ("run id prefix", RunFilter(run_id=prefix), False),
        ]
        print(f"{'filter':<18} {'first page':>11} {'page 1,000':>11} {'ratio':>6}")
        for label, where, deep in cases:
            first = median_ms(conn, where)
            if deep:
                far = median_ms(conn, cursor_at(conn, where, page_1000_row))
                print(f"{label:<18} {first:>8.2f} ms {far:>8.2f} ms {far / first:>6.2f}")
            else:
                print(f"{label:<18} {first:>8.2f} ms {'':>11} {'':>6}")


if __name__ == "__main__":
    main()
