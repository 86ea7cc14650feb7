"""``pgflow ui`` runs as ``pgflow_client`` when the roles are installed (issue 15).

The dashboard here logs in as the superuser the tests use, the worst case: every connection it
opens (pages, live updates, actions) must still hold only ``pgflow_client``'s rights. The tests
run every page and every action as it, then attack through its own pooled connections; a login
outside the role gets a warning that the dashboard runs with the login's own rights.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo
from starlette.testclient import TestClient

from pgflow_yaml import core
from pgflow_yaml.ui import data
from pgflow_yaml.ui.app import Settings, create_app
from tests.ui.conftest import TOKEN, Runs
from tests.ui.helpers import Driver

AUTH = {"authorization": f"Bearer {TOKEN}"}
_counter = itertools.count()


@pytest.fixture
def roles_dsn(dsn: str) -> str:
    """Return the test database with the roles installed."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        core.install(conn, roles=True)
    return dsn


@pytest.fixture
def logins(roles_dsn: str) -> Iterator[Any]:
    """Return a function making a login (in a role, or none) and returning its DSN."""
    made: list[str] = []

    def make(role: str | None) -> str:
        name = f"pgflow_ui_{os.getpid()}_{next(_counter)}"
        with psycopg.connect(roles_dsn, autocommit=True) as admin:
            admin.execute(sql.SQL("create role {} login").format(sql.Identifier(name)))
            made.append(name)
            if role:
                admin.execute(
                    sql.SQL("grant {} to {}").format(sql.Identifier(role), sql.Identifier(name))
                )
        return make_conninfo(roles_dsn, user=name)

    yield make
    with psycopg.connect(roles_dsn, autocommit=True) as admin:
        for name in made:
            admin.execute(sql.SQL("drop owned by {}").format(sql.Identifier(name)))
            admin.execute(sql.SQL("drop role {}").format(sql.Identifier(name)))


def _app(dsn: str, driver: Driver) -> TestClient:
    settings = Settings(dsn=dsn, allow_actions=True, token=TOKEN, flows=[driver.flow])
    return TestClient(create_app(settings), base_url="http://127.0.0.1:8787")


async def _denied(conn: Any, query: str) -> str:
    """Run ``query`` on one of the dashboard's own connections, expecting permission denied."""
    try:
        await conn.execute(query)
    except psycopg.errors.InsufficientPrivilege as exc:
        return str(exc).splitlines()[0]
    raise AssertionError(f"allowed: {query}")


async def _scalar(conn: Any, query: str) -> Any:
    cur = await conn.execute(query)
    row = await cur.fetchone()
    return row[0]


ATTACKS = [
    ("table runs", "delete from pgflow.runs"),
    ("table step_tasks", "update pgflow.step_tasks set status = 'completed'"),
    ("table flows", "update pgflow.flows set opt_max_attempts = 99"),
    ("table workers", "select registered_by from pgflow.workers"),
    ("table workers", "delete from pgflow.workers"),
    ("function prune", "select pgflow.prune('0 seconds')"),
    ("function complete_task", "select pgflow.complete_task(gen_random_uuid(), 'x', 0, '1')"),
    ("schema pgmq", "select * from pgmq.read('ui_demo', 30, 1)"),
    # PostgreSQL 15 says "must be superuser", 16 and later "permission denied to create role"
    (
        "must be superuser|permission denied to create role",
        "create role pgflow_ui_evil login superuser",
    ),
]


def test_every_page_and_action_works_as_pgflow_client(
    roles_dsn: str, driver: Driver, runs: Runs, caplog: pytest.LogCaptureFixture
) -> None:
    driver.install_approval()
    waiting = driver.waiting_run()
    with caplog.at_level("INFO", logger="pgflow_yaml.ui"), _app(roles_dsn, driver) as web:
        board = web.app.state.dashboard  # type: ignore[attr-defined]
        for url in ("/runs", "/runs?status=failed&flow=ui_demo", f"/runs?run_id={runs.failed[:6]}",
                    f"/runs/{runs.completed}", f"/runs/{runs.failed}", f"/runs/{waiting}",
                    "/flows", "/workers", "/metrics"):  # fmt: skip
            answer = web.get(url)
            assert answer.status_code == 200, (url, answer.text)
        assert f'data-worker-id="{driver.worker_id}"' in web.get("/workers").text
        assert 'pgflow_live_workers{flows="ui_demo"} 1.0' in web.get("/metrics").text
        assert "nightly" in web.get("/flows").text
        acts = [
            web.post(f"/runs/{runs.running}/cancel", headers=AUTH).json()["status"],
            web.post(f"/runs/{runs.failed}/retry", headers=AUTH).json()["status"],
            web.post("/flows/ui_demo/start", data={"input": '{"n": 2}'}, headers=AUTH).status_code,
            web.post(
                f"/runs/{waiting}/signal",
                data={"step": "approve", "payload": '{"approved": true}'},
                headers=AUTH,
            ).json()["outcome"],
            web.post("/flows/ui_approval/schedules/nightly/trigger", headers=AUTH).status_code,
        ]
        assert acts == ["cancelled", "started", 200, "completed", 200]
        page = board.hub.open(f"run:{waiting}")  # the live updates' reads, as the role
        web.portal.call(board.hub.dispatch, {waiting}, page)
        event = page.queue.get_nowait()
        assert event.startswith("event: steps\n") and '"approve": "completed"' in event
        choice = board.db.choice
        assert (choice.role, choice.warn) == ("pgflow_client", False)
        assert "pgflow ui runs as role pgflow_client (login postgres)" in caplog.text
        client = web.portal.call(board.client)
        for conn in [*board.db._idle, client._conn]:
            who = web.portal.call(_scalar, conn, "select current_user")
            assert who == "pgflow_client"

        for conn in [*board.db._idle, client._conn]:
            for names, query in ATTACKS:
                message = web.portal.call(_denied, conn, query)
                assert any(name in message for name in names.split("|")), (query, message)
            web.portal.call(conn.execute, "reset role")  # back to the session's start: the role
            assert web.portal.call(_scalar, conn, "select current_user") == "pgflow_client"
            assert web.portal.call(_denied, conn, "delete from pgflow.runs")
    assert driver.status(runs.completed) == "completed"


def test_a_login_of_pgflow_client_runs_as_it(logins: Any, driver: Driver, runs: Runs) -> None:
    dsn = logins("pgflow_client")
    with _app(dsn, driver) as web:
        assert web.get(f"/runs/{runs.failed}").status_code == 200
        assert web.post(f"/runs/{runs.running}/cancel", headers=AUTH).status_code == 200
        choice = web.app.state.dashboard.db.choice  # type: ignore[attr-defined]
        assert choice.role == "pgflow_client"


def test_a_login_outside_pgflow_client_is_warned(
    logins: Any, driver: Driver, caplog: pytest.LogCaptureFixture
) -> None:
    dsn = logins(None)
    login = psycopg.conninfo.conninfo_to_dict(dsn)["user"]
    with caplog.at_level("INFO", logger="pgflow_yaml.ui"), _app(dsn, driver) as web:
        choice = web.app.state.dashboard.db.choice  # type: ignore[attr-defined]
        assert (choice.role, choice.warn, choice.dsn) == (None, True, dsn)
        page = web.get("/runs")
    assert page.status_code == 503  # its own rights: none in schema pgflow
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings[0] == (
        f"the login {login} is not a member of pgflow_client: pgflow ui runs with the login's"
        f" own rights (grant pgflow_client to {login}, or pass --dsn with a login of"
        " pgflow_client)"
    )


def test_without_roles_the_login_is_used_as_it_is(dsn: str, driver: Driver) -> None:
    with _app(dsn, driver) as web:
        assert web.get("/workers").status_code == 200
        choice = web.app.state.dashboard.db.choice  # type: ignore[attr-defined]
        assert (choice.role, choice.message, choice.dsn) == (None, None, dsn)


def test_with_role_adds_to_the_options() -> None:
    made = psycopg.conninfo.conninfo_to_dict(data.with_role("postgresql://u:pw@h/db", "r"))
    assert made == {
        "user": "u",
        "password": "pw",
        "host": "h",
        "dbname": "db",
        "options": "-c role=r",
    }
    kept = data.with_role("host=h options='-c statement_timeout=5s'", "r")
    assert psycopg.conninfo.conninfo_to_dict(kept)["options"] == "-c statement_timeout=5s -c role=r"
