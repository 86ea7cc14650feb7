"""The run page says why each unfinished step is not running (``pgflow.explain_run``, issue 15).

The reasons are the sentences of ``pgflow why`` (``Reason.describe``), read on the page and with
every live update of the run; they come from the database, so they are escaped like the rest.
"""

from __future__ import annotations

import psycopg
from markupsafe import escape
from psycopg.types.json import Jsonb
from starlette.testclient import TestClient

from pgflow_yaml import core
from pgflow_yaml.ui.app import Settings, create_app
from pgflow_yaml.ui.live import Page
from tests.ui.helpers import XSS, Driver


def _why_section(page: str) -> str:
    return page.split('<section class="why" id="why"')[1].split("</section>")[0]


def test_a_run_held_by_a_step_limit_shows_the_holder(web: TestClient, driver: Driver) -> None:
    driver.conn.execute("select pgflow.add_step('ui_demo', 'fetch', concurrency_limit => 1)")
    holder, waiting = driver.start(), driver.start()
    (task,) = driver.claim("fetch", holder)  # the limit lets one fetch start, holder's

    section = _why_section(web.get(f"/runs/{waiting}").text)
    assert "hidden" not in section.split(">")[0]
    assert (
        '<td class="why-text">step concurrency full: 1 of 1 in flight'
        f" (runs {holder})</td>" in section
    )
    assert '<span class="badge reason">concurrency_full</span>' in section
    assert "waiting for fetch" in section and "waiting for split" in section

    mine = _why_section(web.get(f"/runs/{holder}").text)
    assert '<span class="badge reason">running</span>' in mine
    assert " UTC</td>" in mine  # a running task times out: its until is shown
    driver.complete(task, [1])
    assert "waiting for fetch" not in _why_section(web.get(f"/runs/{holder}").text)
    driver.conn.execute("select pgflow.cancel_run(%s::uuid)", [waiting])
    assert 'id="why"' not in web.get(f"/runs/{waiting}").text  # finished: no reasons


def test_a_queued_run_names_its_position_and_the_runs_holding_the_slots(
    web: TestClient, driver: Driver
) -> None:
    driver.conn.execute("select pgflow.create_flow('ui_demo', concurrency_limit => 1)")
    holder, first, second = driver.start(), driver.start(), driver.start()
    section = _why_section(web.get(f"/runs/{second}").text)
    sentence = (
        "run queued behind the flow&#39;s concurrency limit: position 2"
        f" (runs holding the slots: {holder})"
    )
    assert section.count(sentence) == 3  # one row per step: fetch, split, report
    assert "position 1" in _why_section(web.get(f"/runs/{first}").text)


def test_a_key_from_the_run_input_is_escaped(web: TestClient, driver: Driver) -> None:
    driver.conn.execute(
        "select pgflow.add_step('ui_demo', 'fetch', concurrency_limit => 1,"
        " concurrency_key => 'run.tag')"
    )
    runs = [
        str(
            driver.conn.execute(
                "select run_id from pgflow.start_flow('ui_demo', %s)",
                [Jsonb({"n": 1, "tag": XSS})],
            ).fetchone()["run_id"]  # type: ignore[index]
        )
        for _ in range(2)
    ]
    driver.claim("fetch", runs[0])
    page = web.get(f"/runs/{runs[1]}").text
    assert "<script>window.__pwned" not in page
    assert escape(f'for key "{XSS}"') in _why_section(page)


def test_the_live_update_carries_the_reasons_as_pgflow_client(dsn: str, driver: Driver) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        core.install(conn, roles=True)
    driver.conn.execute("select pgflow.create_flow('ui_demo', concurrency_limit => 1)")
    holder, queued = driver.start(), driver.start()
    with TestClient(create_app(Settings(dsn=dsn))) as web:
        board = web.app.state.dashboard  # type: ignore[attr-defined]
        assert "position 1" in _why_section(web.get(f"/runs/{queued}").text)
        assert board.db.choice.role == "pgflow_client"  # explain_run is granted to the role
        page = board.hub.open(f"run:{queued}")
        web.portal.call(board.hub.dispatch, {queued}, page)
        event = _last_steps(page)
        assert '"reason": "run_queued"' in event and f"slots: {holder})" in event

        driver.conn.execute("select pgflow.cancel_run(%s::uuid)", [holder])  # queued starts
        web.portal.call(board.hub.dispatch, {queued}, page)
        event = _last_steps(page)
        assert '"status": "started"' in event
        assert '"reason": "waiting_for_worker"' in event and "run_queued" not in event

        driver.conn.execute("select pgflow.cancel_run(%s::uuid)", [queued])
        web.portal.call(board.hub.dispatch, {queued}, page)
        assert '"why": []' in _last_steps(page)


def test_a_page_rereads_its_reasons_when_another_run_of_its_flow_changes(
    web: TestClient, driver: Driver
) -> None:
    driver.conn.execute("select pgflow.add_step('ui_demo', 'fetch', concurrency_limit => 1)")
    holder, waiting = driver.start(), driver.start()
    (task,) = driver.claim("fetch", holder)
    driver.install_approval()
    other_flow = driver.waiting_run()  # a run of ui_approval: its page hears nothing of ui_demo
    board = web.app.state.dashboard  # type: ignore[attr-defined]
    page, elsewhere = board.hub.open(f"run:{waiting}"), board.hub.open(f"run:{other_flow}")
    for shown in (page, elsewhere):  # what a page's stream reads when it opens
        web.portal.call(board.hub.dispatch, {shown.topic[4:]}, shown)
        assert any(e.startswith("event: steps\n") for e in _drain(shown))
    assert (page.flow_slug, page.unfinished) == ("ui_demo", True)

    driver.complete(task, [1])  # the holder's fetch ends: the slot is free, nothing of waiting
    web.portal.call(board.hub.dispatch, {holder})
    (event,) = [e for e in _drain(page) if e.startswith("event: why\n")][-1:]
    assert '"reason": "waiting_for_worker"' in event and "concurrency_full" not in event
    assert not [e for e in _drain(elsewhere) if e.startswith("event: why\n")]
    board.hub.close(page)
    board.hub.close(elsewhere)


def _drain(page: Page) -> list[str]:
    """Return the events queued for a page (the app's own listener may have queued some)."""
    events = []
    while not page.queue.empty():
        events.append(page.queue.get_nowait())
    return events


def _last_steps(page: Page) -> str:
    """Return the latest ``steps`` event queued for a page (it reads the current state)."""
    return [e for e in _drain(page) if e.startswith("event: steps\n")][-1]
