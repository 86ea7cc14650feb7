"""The dashboard's pages against a database with real runs (Starlette's test client)."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

from pgflow_yaml.ui.app import Settings, create_app
from tests.ui.conftest import Runs
from tests.ui.helpers import XSS, Driver


def test_runs_page_lists_every_run_with_its_status(web: TestClient, runs: Runs) -> None:
    page = web.get("/runs")
    assert page.status_code == 200
    for run_id, status in (
        (runs.completed, "completed"),
        (runs.failed, "failed"),
        (runs.running, "started"),
        (runs.cancelled, "cancelled"),
    ):
        assert f'<tr data-run-id="{run_id}">' in page.text
        row = page.text.split(f'<tr data-run-id="{run_id}">')[1].split("</tr>")[0]
        assert f'data-role="status">{status}</span>' in row


def _row(page: str, run_id: str) -> str:
    return page.split(f'<tr data-run-id="{run_id}">')[1].split("</tr>")[0]


def test_run_page_colours_the_dag_and_lists_tasks(web: TestClient, runs: Runs) -> None:
    page = web.get(f"/runs/{runs.completed}")
    assert page.status_code == 200
    for slug in ("fetch", "split", "report"):
        assert 'class="step st-completed kind-' in page.text
        assert f'data-step="{slug}"' in page.text
    assert 'class="step st-completed kind-map" data-step="split"' in page.text
    assert "<h2>Timeline</h2>" in page.text
    assert "&#34;total&#34;: 3" in page.text  # the run output, collapsible


def test_a_step_error_with_a_script_tag_renders_as_text(web: TestClient, runs: Runs) -> None:
    page = web.get(f"/runs/{runs.failed}")
    assert page.status_code == 200
    assert "<script>window.__pwned" not in page.text
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt; bad value" in page.text
    assert '<summary>traceback</summary><pre class="traceback">Traceback' in page.text
    assert 'class="step st-failed kind-map" data-step="split"' in page.text
    assert XSS not in page.text


def test_running_run_shows_started_and_created_steps(web: TestClient, runs: Runs) -> None:
    page = web.get(f"/runs/{runs.running}").text
    assert 'class="step st-completed kind-single" data-step="fetch"' in page
    assert 'class="step st-started kind-map" data-step="split"' in page
    assert 'class="step st-created kind-single" data-step="report"' in page


def test_unknown_run_is_a_404(web: TestClient, runs: Runs) -> None:
    page = web.get("/runs/00000000-0000-0000-0000-000000000000")
    assert page.status_code == 404
    assert "no run 00000000-0000-0000-0000-000000000000" in page.text


def test_runs_page_filters_by_status_and_flow(web: TestClient, runs: Runs) -> None:
    page = web.get("/runs", params={"status": "failed"}).text
    assert runs.failed in page and runs.completed not in page
    page = web.get("/runs", params={"flow": "no_such_flow"}).text
    assert "no runs" in page


def test_runs_page_searches_by_run_id_prefix(web: TestClient, runs: Runs) -> None:
    page = web.get("/runs", params={"run_id": runs.cancelled[:13]}).text
    assert runs.cancelled in page
    full = web.get("/runs", params={"run_id": runs.cancelled}, follow_redirects=False)
    assert full.status_code == 303
    assert full.headers["location"] == f"/runs/{runs.cancelled}"
    bad = web.get("/runs", params={"run_id": "xyz"}).text
    assert '"xyz" is not the start of a run id' in bad


def test_runs_page_pages_by_keyset(web: TestClient, driver: Driver) -> None:
    ids = [driver.start() for _ in range(55)]
    first = web.get("/runs").text
    assert first.count("<tr data-run-id=") == 50
    assert ids[-1] in first and ids[4] not in first
    link = next(a for a in first.split('href="') if a.startswith("/runs?after=")).split('"')[0]
    second = web.get(link.replace("&amp;", "&")).text
    assert second.count("<tr data-run-id=") == 5
    assert all(i in second for i in ids[:5])
    assert 'href="/runs?">« newest</a>' in second


def test_flows_page_shows_shape_and_counts(web: TestClient, runs: Runs) -> None:
    page = web.get("/flows").text
    assert '<section class="flow" id="flow-ui_demo">' in page
    assert 'data-step="split"' in page
    counts = page.split("<th>last day</th>")[1].split("</tr>")[0]
    assert counts.count('">1</td>') == 4  # one run per status


def test_workers_page_shows_the_registered_worker(web: TestClient, driver: Driver) -> None:
    page = web.get("/workers").text
    assert f'<tr data-worker-id="{driver.worker_id}">' in page
    assert '<span class="badge st-completed">live</span>' in page


def test_pages_send_a_content_security_policy(web: TestClient, runs: Runs) -> None:
    page = web.get("/runs")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert web.get("/static/live.js").status_code == 200


def test_events_refuse_an_unknown_topic(web: TestClient) -> None:
    assert web.get("/events", params={"topic": "everything"}).status_code == 400


def test_a_missing_extra_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from pgflow_yaml import ui
    from pgflow_yaml.cli import app

    monkeypatch.setattr(ui, "EXTRA_MODULES", ("starlette", "no_such_module_of_the_extra"))
    result = CliRunner().invoke(app, ["ui"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == (
        "error: pgflow ui needs no_such_module_of_the_extra: pip install 'pgflow-yaml[ui]'"
    )


def test_a_database_without_the_core_shows_one_line(empty_dsn: str) -> None:
    with TestClient(create_app(Settings(dsn=empty_dsn))) as client:
        page = client.get("/runs")
    assert page.status_code == 503
    assert (
        '<p class="problem">the pgflow core is missing or outdated here: relation'
        " &#34;pgflow.runs&#34; does not exist; run `pgflow install`</p>"
    ) in page.text


def test_a_subflow_task_links_its_child_run_and_the_child_its_parent(
    web: TestClient, dsn: str
) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("select pgflow.create_flow('ui_child')")
        conn.execute("select pgflow.add_step('ui_child', 'work')")
        conn.execute("select pgflow.create_flow('ui_parent')")
        conn.execute(
            "select pgflow.add_step('ui_parent', 'each', step_type => 'map',"
            " child_flow_slug => 'ui_child')"
        )
        (parent,) = (
            conn.execute("select run_id from pgflow.start_flow('ui_parent', '[1, 2]')").fetchone()
            or ()
        )
        children = [
            str(row[0])
            for row in conn.execute(
                "select run_id from pgflow.runs where parent_run_id = %s"
                " order by parent_task_index",
                (parent,),
            )
        ]
    page = web.get(f"/runs/{parent}")
    assert page.status_code == 200
    for child in children:
        assert (
            f'<a href="/runs/{child}" data-child-run="{child}">child {child[:8]}</a>' in page.text
        )
    child_page = web.get(f"/runs/{children[1]}")
    assert f'<a href="/runs/{parent}" class="mono" id="parent-run">' in child_page.text
    assert "step each[1]" in child_page.text
