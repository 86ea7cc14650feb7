"""The flows a database holds: list them, count their runs, drop one (``pgflow flows``).

Dropping is ``pgflow.drop_flow`` (owner only): the flow's runs, step states, tasks,
dependencies, steps, the flow row and its pgmq queue go in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

from pgflow_yaml import db
from pgflow_yaml.errors import FlowInUse, FlowNotFound


@dataclass(frozen=True)
class FlowSummary:
    """One flow of a database, with its counts.

    Attributes:
        flow_slug: the flow.
        steps: how many steps it has.
        runs: how many runs it has (any status).
        in_progress: how many of them are started (not finished).
    """

    flow_slug: str
    steps: int
    runs: int
    in_progress: int

    def to_json(self) -> dict[str, Any]:
        """Return the summary as a JSON object."""
        return {
            "flow_slug": self.flow_slug,
            "steps": self.steps,
            "runs": self.runs,
            "in_progress": self.in_progress,
        }


_SUMMARIES = """
select f.flow_slug,
       (select count(*) from pgflow.steps s where s.flow_slug = f.flow_slug),
       (select count(*) from pgflow.runs r where r.flow_slug = f.flow_slug),
       (select count(*) from pgflow.runs r where r.flow_slug = f.flow_slug
          and r.status in ('started', 'queued'))
from pgflow.flows f
where %(flow_slug)s::text is null or f.flow_slug = %(flow_slug)s
order by f.flow_slug
"""


def list_flows(conn: psycopg.Connection[Any], flow_slug: str | None = None) -> list[FlowSummary]:
    """Return every flow of the database (or only ``flow_slug``), by slug.

    Raises:
        CoreNotInstalled: the database has no pgflow core.
    """
    with db.translated():
        rows = conn.execute(_SUMMARIES, {"flow_slug": flow_slug}).fetchall()
    return [FlowSummary(*row) for row in rows]


def flow_summary(conn: psycopg.Connection[Any], flow_slug: str) -> FlowSummary:
    """Return one flow's summary.

    Raises:
        FlowNotFound: the database has no flow ``flow_slug``.
    """
    found = list_flows(conn, flow_slug)
    if not found:
        raise FlowNotFound(flow_slug=flow_slug)
    return found[0]


def drop_flow(conn: psycopg.Connection[Any], flow_slug: str, *, force: bool = False) -> int:
    """Drop a flow, its runs and its queue; return how many runs went with it.

    Raises:
        FlowNotFound: no such flow.
        FlowInUse: runs of it are in progress and ``force`` is not set.
        DatabaseError: the database refused (e.g. the login does not own the core).
    """
    summary = flow_summary(conn, flow_slug)
    if summary.in_progress and not force:
        raise FlowInUse(flow_slug=flow_slug, in_progress=summary.in_progress)
    with db.translated():
        row = conn.execute("select pgflow.drop_flow(%s, %s)", (flow_slug, force)).fetchone()
    assert row is not None  # a function call returns one row
    dropped: int = row[0]
    return dropped
