"""Every SQL statement the Python side runs, by name; driver errors translated on the way out.

The statements live in ``*.sql`` files next to this module. Each starts with ``-- name: <name>``
followed by a one-line ``-- <description>`` and the statement itself::

    -- name: heartbeat
    -- Refresh this login's worker's last_heartbeat_at.
    select pgflow.heartbeat_worker(%(worker_id)s::uuid) as deprecated;

Parameters are psycopg named placeholders; nothing is ever formatted into the text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, LiteralString

import psycopg
from psycopg.rows import dict_row

from pgflow_yaml.db import translate as translate
from pgflow_yaml.db import translated as translated

_HEADER = re.compile(r"^-- name: (?P<name>[a-z_][a-z0-9_]*)\s*$", re.M)


@dataclass(frozen=True)
class Query:
    """A named SQL statement with its one-line description."""

    name: str
    description: str
    sql: str


def parse(text: str, source: str = "<string>") -> dict[str, Query]:
    """Split the text of a ``.sql`` file into its named queries.

    Raises:
        ValueError: a query has no description or no statement, or a name repeats.
    """
    found: dict[str, Query] = {}
    headers = list(_HEADER.finditer(text))
    for pos, match in enumerate(headers):
        end = headers[pos + 1].start() if pos + 1 < len(headers) else len(text)
        lines = text[match.end() : end].strip().splitlines()
        name = match["name"]
        if not lines or not lines[0].startswith("-- "):
            raise ValueError(f"{source}: query {name!r} has no one-line description")
        body = "\n".join(line for line in lines[1:] if not line.startswith("--")).strip()
        if not body:
            raise ValueError(f"{source}: query {name!r} has no statement")
        if name in found:
            raise ValueError(f"{source}: query {name!r} is defined twice")
        found[name] = Query(name, lines[0][3:].strip(), body.rstrip(";").strip())
    return found


@cache
def all_queries() -> dict[str, Query]:
    """Return every named query of the package's ``.sql`` files."""
    found: dict[str, Query] = {}
    for entry in sorted(resources.files(__name__).iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".sql"):
            for name, query in parse(entry.read_text(encoding="utf-8"), entry.name).items():
                if name in found:
                    raise ValueError(f"{entry.name}: query {name!r} is defined twice")
                found[name] = query
    return found


def sql(name: str) -> LiteralString:
    """Return the text of the query called ``name``.

    Raises:
        KeyError: no such query.
    """
    text: LiteralString = all_queries()[name].sql
    return text


async def fetch(
    conn: psycopg.AsyncConnection[Any], name: str, params: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Run a named query on an async connection; return its rows as dicts.

    Raises:
        DatabaseError: the database rejected it (``DatabaseUnavailable`` when unreachable).
    """
    with translated():
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(sql(name), params or {})
            return await cur.fetchall() if cur.description else []


def fetch_sync(
    conn: psycopg.Connection[Any], name: str, params: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Run a named query on a sync connection; return its rows as dicts.

    Raises:
        DatabaseError: the database rejected it (``DatabaseUnavailable`` when unreachable).
    """
    with translated(), conn.cursor(row_factory=dict_row) as cur:
        cur.execute(sql(name), params or {})
        return cur.fetchall() if cur.description else []
