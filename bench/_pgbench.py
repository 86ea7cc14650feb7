"""Shared benchmark helpers: scratch databases and the pgbench TPC-B baseline of the same server.

Every benchmark reports its figure as a ratio against a baseline measured in the same run, so
that a busy machine still gives a comparable number::

    from _pgbench import Pgbench, pgbench_tps, scratch_database

    baseline = pgbench_tps(server_url, clients=4, seconds=10)   # one run
    with Pgbench(server_url) as bench:                           # or one run per measurement
        tps = bench.run(5).tps
    with scratch_database(server_url, "mybench") as url:
        ...

Run benchmarks from the repository root (``python bench/bench_core.py``); the bench folder is
then on ``sys.path`` and ``import _pgbench`` works.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

_TPS = re.compile(r"^tps = ([0-9.]+) \(without initial connection time\)", re.M)


class BenchError(Exception):
    """A benchmark cannot run here (the message says why)."""


def server_url(dsn: str | None = None) -> str:
    """Return the DSN of the server to benchmark: ``--dsn``, else the test/app environment.

    Falls back to ``pgflow_yaml.db.resolve_dsn`` (``PGFLOW_DATABASE_URL``, ``DATABASE_URL``,
    else the embedded server).
    """
    if dsn:
        return dsn
    if os.environ.get("PGFLOW_TEST_DATABASE_URL"):
        return os.environ["PGFLOW_TEST_DATABASE_URL"]
    from pgflow_yaml.db import resolve_dsn

    return resolve_dsn(None)


def with_dbname(url: str, dbname: str) -> str:
    """Return ``url`` pointing at database ``dbname``."""
    params = conninfo_to_dict(url)
    params["dbname"] = dbname
    return make_conninfo("", **params)


@contextmanager
def scratch_database(url: str, label: str) -> Iterator[str]:
    """Create a database unique to this process, yield its DSN, drop it afterwards."""
    name = f"pgflow_bench_{label}_{os.getpid()}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(
            sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
        )
        admin.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    try:
        yield with_dbname(url, name)
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(
                sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
            )


@dataclass(frozen=True)
class PgbenchResult:
    """One pgbench run: TPS without connection time, and the settings it ran with."""

    tps: float
    clients: int
    seconds: int
    scale: int


class Pgbench:
    """A pgbench TPC-B database, initialised once, that can be run many times.

    Use it as a context manager; the database is dropped on exit::

        with Pgbench(url) as bench:
            before = bench.run(5)
            ...
            after = bench.run(5)
    """

    def __init__(self, url: str, *, clients: int = 4, scale: int = 4) -> None:
        """Remember the server and settings; nothing runs before ``__enter__``."""
        exe = shutil.which("pgbench")
        if exe is None:
            raise BenchError("pgbench is not installed (apt-get install postgresql-client)")
        self.exe, self.url, self.clients, self.scale = exe, url, clients, scale
        self._scratch: Any = None
        self._db = ""

    def __enter__(self) -> Pgbench:
        """Create the scratch database and initialise pgbench in it."""
        self._scratch = scratch_database(self.url, "pgbench")
        self._db = self._scratch.__enter__()
        _run([self.exe, "-i", "-q", "-s", str(self.scale), self._db])
        return self

    def __exit__(self, *exc: object) -> None:
        """Drop the scratch database."""
        self._scratch.__exit__(*exc)

    def run(self, seconds: int) -> PgbenchResult:
        """Run TPC-B for ``seconds`` and return its TPS (without connection time)."""
        jobs = str(min(self.clients, 2))
        out = _run(
            [self.exe, "-c", str(self.clients), "-j", jobs, "-T", str(seconds), "-n", self._db]
        )
        match = _TPS.search(out)
        if not match:
            raise BenchError(f"pgbench printed no TPS line:\n{out[-500:]}")
        return PgbenchResult(float(match[1]), self.clients, seconds, self.scale)


def pgbench_tps(url: str, *, clients: int = 4, seconds: int = 10, scale: int = 4) -> PgbenchResult:
    """Initialise pgbench in its own scratch database, run TPC-B once, return the TPS.

    Raises:
        BenchError: pgbench is not installed or failed.
    """
    with Pgbench(url, clients=clients, scale=scale) as bench:
        return bench.run(seconds)


def _run(cmd: list[str]) -> str:
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        from pgflow_yaml.db import redact

        raise BenchError(redact(f"{cmd[0]} failed ({done.returncode}): {done.stderr.strip()}"))
    return done.stdout
