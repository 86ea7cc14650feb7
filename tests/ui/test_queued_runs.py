"""A run held by its flow's concurrency limit: its own badge colour and a status filter."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.ui.helpers import Driver


def test_a_queued_run_is_listed_filtered_and_shown(web: TestClient, driver: Driver) -> None:
    driver.conn.execute("select pgflow.create_flow('ui_demo', concurrency_limit => 1)")
    running, queued = driver.start(), driver.start()
    assert (driver.status(running), driver.status(queued)) == ("started", "queued")

    page = web.get("/runs")
    row = page.text.split(f'<tr data-run-id="{queued}">')[1].split("</tr>")[0]
    assert 'class="badge st-queued" data-role="status">queued</span>' in row
    assert '<option value="queued">queued</option>' in page.text

    only = web.get("/runs", params={"status": "queued"})
    assert f'data-run-id="{queued}"' in only.text and f'data-run-id="{running}"' not in only.text

    run = web.get(f"/runs/{queued}")
    assert run.status_code == 200
    assert "st-queued" in run.text and 'class="step st-created kind-' in run.text

    css = web.get("/static/style.css").text
    assert ".badge.st-queued { background:var(--blue-bg); color:var(--blue); }" in css
