"""The dashboard in a real headless browser: Debian's chromium driven by Playwright.

``pgflow ui`` runs as a subprocess on a database with runs in every state. The tests click
from the runs list into a run, watch a step turn green without a reload (Server-Sent Events),
and cancel a run with the token after failing without it. With ``PGFLOW_UI_SCREENSHOTS=1`` they
save a screenshot of each page into docs/images/ (else into the test's temporary folder).

Playwright is told to use the system's chromium (``executable_path``); it never downloads a
browser. ``.ci/run`` installs chromium with apt when it is missing.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.ui.conftest import Runs
from tests.ui.helpers import FLOW_FILE, Driver

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = next(
    (p for p in (shutil.which("chromium"), "/usr/bin/chromium") if p and Path(p).exists()), None
)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium on this machine (apt-get install chromium)"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class UiServer:
    """A ``pgflow ui --allow-actions`` subprocess."""

    def __init__(self, dsn: str, folder: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token_file = folder / "ui-token"
        self.log = folder / "ui.log"
        command = [
            sys.executable,
            "-m",
            "pgflow_yaml",
            "ui",
            str(FLOW_FILE),
            "--dsn",
            dsn,
            "--port",
            str(self.port),
            "--allow-actions",
            "--token-file",
            str(self.token_file),
        ]
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/runs", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise AssertionError(f"pgflow ui did not answer:\n{self.log.read_text()}")

    @property
    def token(self) -> str:
        """Return the token the server generated."""
        return self.token_file.read_text().strip()

    def stop(self) -> None:
        """Stop the server."""
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


@pytest.fixture
def server(dsn: str, tmp_path: Path, runs: Runs) -> Iterator[UiServer]:
    """Start ``pgflow ui`` on the database of ``runs``."""
    ui = UiServer(dsn, tmp_path)
    yield ui
    ui.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Return a headless chromium."""
    with sync_api.sync_playwright() as play:
        chromium = play.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """Return a fresh page (own cookies) of 1280x800."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    yield context.new_page()
    context.close()


def _shot(page: Any, name: str, tmp_path: Path) -> None:
    folder = REPO / "docs" / "images" if os.environ.get("PGFLOW_UI_SCREENSHOTS") else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / name), full_page=True)


def test_each_page_loads_and_the_runs_list_leads_to_a_run(
    server: UiServer, page: Any, runs: Runs, driver: Driver, tmp_path: Path
) -> None:
    driver.install_approval()  # a flow with a signal step and a schedule, no runs
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{server.url}/runs")
    assert page.locator("tr[data-run-id]").count() == 4
    _shot(page, "ui-runs.png", tmp_path)
    page.click(f'a[href="/runs/{runs.failed}"]')
    page.wait_for_url(f"{server.url}/runs/{runs.failed}")
    split = page.locator('svg.dag g[data-step="split"]')
    assert "st-failed" in split.get_attribute("class")
    message = page.locator(".error-message").first.inner_text()
    assert message == "ValueError: <script>window.__pwned = 1</script> bad value"
    assert page.evaluate("window.__pwned === undefined")
    page.locator("summary", has_text="traceback").first.click()
    assert "Traceback (most recent call last)" in page.locator("pre.traceback").first.inner_text()
    _shot(page, "ui-run-failed.png", tmp_path)
    page.goto(f"{server.url}/runs/{runs.completed}")
    assert page.locator("svg.dag g.st-completed").count() == 3
    assert page.locator("svg.timeline rect.bar").count() == 4
    _shot(page, "ui-run.png", tmp_path)
    page.goto(f"{server.url}/runs/{runs.cancelled}")
    assert page.locator("#run-status").inner_text() == "cancelled"
    page.goto(f"{server.url}/flows")
    assert page.locator("#flow-ui_demo svg.dag g.step").count() == 3
    schedule = page.locator('#flow-ui_approval tr[data-schedule="nightly"]')
    assert "03:00:00 UTC" in schedule.inner_text()
    assert schedule.locator('[data-role="state"]').inner_text() == "active"
    _shot(page, "ui-flows.png", tmp_path)
    page.goto(f"{server.url}/workers")
    assert page.locator("tr[data-worker-id]").count() == 1
    _shot(page, "ui-workers.png", tmp_path)
    assert errors == []


def test_a_finishing_step_turns_green_without_a_reload(
    server: UiServer, page: Any, runs: Runs, driver: Driver
) -> None:
    page.goto(f"{server.url}/runs/{runs.running}")
    page.wait_for_selector("body[data-live=on]")
    page.evaluate("window.__same_document = true")
    split = page.locator('svg.dag g[data-step="split"]')
    assert "st-started" in split.get_attribute("class")
    driver.finish_step(runs.running, "split", {"ok": True})
    sync_api.expect(split).to_have_class(re.compile(r"\bst-completed\b"))
    colour = page.evaluate(
        "getComputedStyle(document.querySelector('svg.dag g[data-step=\"split\"] rect.box')).fill"
    )
    assert colour == "rgb(45, 164, 78)"  # green
    assert page.locator('[data-step-status="split"]').inner_text() == "completed"
    report = page.locator('svg.dag g[data-step="report"] text.sub')
    sync_api.expect(report).to_have_text("started")
    assert page.evaluate("window.__same_document") is True


def test_the_runs_list_follows_status_changes(
    server: UiServer, page: Any, runs: Runs, driver: Driver
) -> None:
    page.goto(f"{server.url}/runs")
    page.wait_for_selector("body[data-live=on]")
    driver.conn.execute("select pgflow.cancel_run(%s::uuid)", [runs.running])
    status = page.locator(f'tr[data-run-id="{runs.running}"] [data-role="status"]')
    sync_api.expect(status).to_have_text("cancelled")
    driver.start()
    sync_api.expect(page.locator("#new-runs")).to_be_visible()


def test_cancel_fails_without_the_token_and_works_with_it(
    server: UiServer, page: Any, runs: Runs, driver: Driver, tmp_path: Path
) -> None:
    page.goto(f"{server.url}/runs/{runs.running}")
    assert page.locator("#cancel").count() == 0
    refused = page.evaluate(
        f"fetch('/runs/{runs.running}/cancel', {{method: 'POST'}}).then(r => r.status)"
    )
    assert refused == 403
    page.click("text=Sign in")
    page.fill("#token", "not-the-token")
    page.click("#sign-in-button")
    assert page.locator("#problem").inner_text() == "wrong token"
    _shot(page, "ui-sign-in.png", tmp_path)
    page.fill("#token", server.token)
    page.click("#sign-in-button")
    page.wait_for_url(f"{server.url}/runs/{runs.running}")
    assert driver.status(runs.running) == "started"
    page.click("#cancel")
    page.wait_for_url(f"{server.url}/runs/{runs.running}")
    sync_api.expect(page.locator("#run-status")).to_have_text("cancelled")
    assert driver.status(runs.running) == "cancelled"
    assert re.search(
        rf"ui cancel run {runs.running} from 127\.0\.0\.1: now cancelled", _log(server)
    )


def _sign_in(page: Any, server: UiServer, next_url: str) -> None:
    page.goto(f"{server.url}/login?next={next_url}")
    page.fill("#token", server.token)
    page.click("#sign-in-button")
    page.wait_for_url(f"{server.url}{next_url}")


def test_signal_a_waiting_step_checked_against_its_schema(
    server: UiServer, page: Any, driver: Driver, tmp_path: Path
) -> None:
    driver.install_approval()
    run_id = driver.waiting_run()
    page.goto(f"{server.url}/runs/{run_id}")
    assert page.locator("form.signal-form").count() == 0  # not signed in
    _sign_in(page, server, f"/runs/{run_id}")
    approve = page.locator('svg.dag g[data-step="approve"]')
    assert "st-waiting" in approve.get_attribute("class")
    form = page.locator("#signal-approve")
    form.locator("textarea").fill('{"approved": "yes", "reviewer": "ada"}')
    form.locator("button.send-signal").click()
    problem = page.locator("#signal-problem")
    sync_api.expect(problem).to_have_text(
        "the payload does not match the signal schema of step 'approve':\n"
        "  payload['approved']: 'yes' is not of type 'boolean'"
    )
    assert driver.step_status(run_id, "approve") == "waiting"
    kept = page.locator("#signal-approve textarea").input_value()
    assert kept == '{"approved": "yes", "reviewer": "ada"}'
    _shot(page, "ui-run-signal.png", tmp_path)
    page.locator("#signal-approve textarea").fill('{"approved": true, "reviewer": "ada"}')
    page.locator("#signal-approve button.send-signal").click()
    page.wait_for_url(f"{server.url}/runs/{run_id}")
    sync_api.expect(approve).to_have_class(re.compile(r"\bst-completed\b"))
    assert driver.step_status(run_id, "approve") == "completed"
    assert driver.step_status(run_id, "publish") == "started"
    assert page.locator("form.signal-form").count() == 0
    assert f"ui signal run {run_id} step approve task 0 from 127.0.0.1: completed" in _log(server)


def test_trigger_a_schedule_from_the_flows_page(
    server: UiServer, page: Any, driver: Driver
) -> None:
    driver.install_approval()
    page.goto(f"{server.url}/flows")
    assert page.locator("button.trigger").count() == 0  # not signed in
    _sign_in(page, server, "/flows")
    page.locator('#flow-ui_approval tr[data-schedule="nightly"] button.trigger').click()
    page.wait_for_url(re.compile(rf"{re.escape(server.url)}/runs/[0-9a-f-]{{36}}$"))
    run_id = page.url.rsplit("/", 1)[1]
    assert page.locator("#run-status").inner_text() == "started"
    assert driver.status(run_id) == "started"
    log = _log(server)
    assert f"ui trigger schedule nightly of flow ui_approval from 127.0.0.1: run {run_id}" in log
    page.goto(f"{server.url}/flows")
    last = page.locator('#flow-ui_approval tr[data-schedule="nightly"] a[href^="/runs/"]')
    assert last.get_attribute("href") == f"/runs/{run_id}"


def test_the_command_prints_its_url_and_where_the_token_is(server: UiServer) -> None:
    assert _log(server).splitlines()[:2] == [
        f"actions on: the token is in {server.token_file} (new)",
        f"pgflow ui on {server.url}/ (Ctrl-C stops it)",
    ]
    assert stat.S_IMODE(server.token_file.stat().st_mode) == 0o600


def _log(server: UiServer) -> str:
    return server.log.read_text(encoding="utf-8", errors="replace")


def test_a_queued_run_says_why_and_the_reasons_follow_the_run(
    server: UiServer, page: Any, runs: Runs, driver: Driver, tmp_path: Path
) -> None:
    driver.conn.execute("select pgflow.create_flow('ui_demo', concurrency_limit => 1)")
    queued = driver.start()  # runs.running holds the flow's one slot
    assert driver.status(queued) == "queued"
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{server.url}/runs/{queued}")
    page.wait_for_selector("body[data-live=on]")
    page.evaluate("window.__same_document = true")
    rows = page.locator("#why-rows tr")
    assert rows.count() == 3  # fetch, split, report: the run holds them all
    assert rows.first.locator("td.why-text").inner_text() == (
        "run queued behind the flow's concurrency limit: position 1"
        f" (runs holding the slots: {runs.running})"
    )
    _shot(page, "ui-run-why.png", tmp_path)

    driver.conn.execute("select pgflow.cancel_run(%s::uuid)", [runs.running])  # queued starts
    sync_api.expect(page.locator("#run-status")).to_have_text("started")
    fetch = page.locator('#why-rows tr[data-why-step="fetch"] td.why-text')
    sync_api.expect(fetch).to_contain_text("ready, waiting for a worker")
    split = page.locator('#why-rows tr[data-why-step="split"] td.why-text')
    assert split.inner_text() == "waiting for fetch"
    assert "run_queued" not in page.locator("#why").inner_text()

    driver.conn.execute("select pgflow.cancel_run(%s::uuid)", [queued])
    sync_api.expect(page.locator("#why")).to_be_hidden()
    assert page.evaluate("window.__same_document") is True
    assert errors == []


def test_a_run_held_by_a_step_limit_sees_the_slot_free_live(
    server: UiServer, page: Any, runs: Runs, driver: Driver
) -> None:
    driver.conn.execute("select pgflow.cancel_run(%s::uuid)", [runs.running])  # its tasks go
    driver.conn.execute("select pgflow.add_step('ui_demo', 'fetch', concurrency_limit => 1)")
    holder, waiting = driver.start(), driver.start()
    (task,) = driver.claim("fetch", holder)
    page.goto(f"{server.url}/runs/{waiting}")
    page.wait_for_selector("body[data-live=on]")
    page.evaluate("window.__same_document = true")
    fetch = page.locator('#why-rows tr[data-why-step="fetch"] td.why-text')
    assert fetch.inner_text() == f"step concurrency full: 1 of 1 in flight (runs {holder})"
    driver.complete(task, [1])  # only the holder changes; the waiting run's page hears of it
    sync_api.expect(fetch).to_contain_text("ready, waiting for a worker")
    assert page.evaluate("window.__same_document") is True
