"""Fixtures for the pgflow 0.8.1 interop tests: a database holding the real 0.8.1 core."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.compat.pgflow081 import HarnessUnavailable, build_reference_template, drop_database
from tests.compat.pgflow081 import reference_database as _reference_database


@pytest.fixture(scope="session")
def pgflow081_template(pg_server_url: str) -> Iterator[str]:
    """Build, once per session, a template database holding the pgflow 0.8.1 core."""
    try:
        name = build_reference_template(pg_server_url)
    except HarnessUnavailable as exc:
        pytest.skip(f"pgflow 0.8.1 reference core unavailable: {exc}")
    yield name
    drop_database(pg_server_url, name)


@pytest.fixture
def pgflow081_dsn(pg_server_url: str, pgflow081_template: str) -> Iterator[str]:
    """Return the DSN of a fresh database holding the real pgflow 0.8.1 core."""
    with _reference_database(pg_server_url, template=pgflow081_template) as url:
        yield url
