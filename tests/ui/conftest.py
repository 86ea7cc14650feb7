"""Fixtures of the dashboard tests: a database with runs in every state, the app on it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

pytest.importorskip("starlette", reason="the ui extra is not installed")

from starlette.testclient import TestClient

from pgflow_yaml.ui.app import Settings, create_app
from tests.ui.helpers import Driver

TOKEN = "test-token-0123456789"


@dataclass
class Runs:
    """The ids of the runs the fixture made."""

    completed: str
    failed: str
    running: str
    cancelled: str


@pytest.fixture
def driver(dsn: str) -> Iterator[Driver]:
    """Return a driver of ui_demo runs on a fresh database."""
    d = Driver(dsn)
    yield d
    d.close()


@pytest.fixture
def runs(driver: Driver) -> Runs:
    """Make one run in each state."""
    return Runs(
        completed=driver.completed_run(),
        failed=driver.failed_run(),
        running=driver.running_run(),
        cancelled=driver.cancelled_run(),
    )


@pytest.fixture
def web(dsn: str) -> Iterator[TestClient]:
    """Return a test client of a read-only dashboard."""
    with TestClient(create_app(Settings(dsn=dsn))) as client:
        yield client


@pytest.fixture
def acting_web(dsn: str, driver: Driver) -> Iterator[TestClient]:
    """Return a test client of a dashboard with actions on (token TOKEN)."""
    settings = Settings(dsn=dsn, allow_actions=True, token=TOKEN, flows=[driver.flow])
    with TestClient(create_app(settings), base_url="http://127.0.0.1:8787") as client:
        yield client
