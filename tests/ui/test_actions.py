"""Cancel, retry and start from the dashboard: token, session cookie, CSRF, input checks."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from pgflow_yaml.errors import FileError
from pgflow_yaml.ui.auth import COOKIE, Keys, load_token
from tests.ui.conftest import TOKEN, Runs
from tests.ui.helpers import Driver

ORIGIN = {"origin": "http://127.0.0.1:8787"}


def test_read_only_dashboard_refuses_actions(web: TestClient, runs: Runs, driver: Driver) -> None:
    answer = web.post(f"/runs/{runs.running}/cancel", headers={"authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 403
    assert answer.text == "actions are off (pgflow ui --allow-actions)"
    assert driver.status(runs.running) == "started"
    assert "Cancel run" not in web.get(f"/runs/{runs.running}").text


def test_cancel_without_the_token_is_refused(
    acting_web: TestClient, runs: Runs, driver: Driver
) -> None:
    answer = acting_web.post(f"/runs/{runs.running}/cancel", headers=ORIGIN)
    assert answer.status_code == 403
    assert answer.text == "this action needs the token"
    wrong = acting_web.post(
        f"/runs/{runs.running}/cancel", headers={"authorization": "Bearer wrong"}
    )
    assert wrong.status_code == 403
    assert driver.status(runs.running) == "started"


def test_cancel_with_the_bearer_token(acting_web: TestClient, runs: Runs, driver: Driver) -> None:
    answer = acting_web.post(
        f"/runs/{runs.running}/cancel", headers={"authorization": f"Bearer {TOKEN}"}
    )
    assert answer.status_code == 200
    assert answer.json() == {"run_id": runs.running, "status": "cancelled"}
    assert driver.status(runs.running) == "cancelled"


def test_sign_in_then_cancel_needs_the_csrf_token(
    acting_web: TestClient, runs: Runs, driver: Driver
) -> None:
    refused = acting_web.post("/login", data={"token": "nope"}, headers=ORIGIN)
    assert refused.status_code == 403
    assert "wrong token" in refused.text
    signed = acting_web.post(
        "/login", data={"token": TOKEN}, headers=ORIGIN, follow_redirects=False
    )
    assert signed.status_code == 303
    assert acting_web.cookies.get(COOKIE) == Keys(TOKEN).session
    no_csrf = acting_web.post(f"/runs/{runs.running}/cancel", headers=ORIGIN)
    assert no_csrf.status_code == 403
    assert no_csrf.text == "bad or missing CSRF token"
    other_site = acting_web.post(
        f"/runs/{runs.running}/cancel",
        data={"csrf": Keys(TOKEN).csrf},
        headers={"origin": "http://evil.example"},
    )
    assert other_site.status_code == 403
    assert driver.status(runs.running) == "started"
    page = acting_web.get(f"/runs/{runs.running}").text
    assert f'name="csrf" value="{Keys(TOKEN).csrf}"' in page
    done = acting_web.post(
        f"/runs/{runs.running}/cancel",
        data={"csrf": Keys(TOKEN).csrf},
        headers=ORIGIN,
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert driver.status(runs.running) == "cancelled"


def test_retry_a_failed_run(acting_web: TestClient, runs: Runs, driver: Driver) -> None:
    answer = acting_web.post(
        f"/runs/{runs.failed}/retry", headers={"authorization": f"Bearer {TOKEN}"}
    )
    assert answer.json() == {"run_id": runs.failed, "status": "started"}


def test_start_checks_the_input_schema(acting_web: TestClient, driver: Driver) -> None:
    auth = {"authorization": f"Bearer {TOKEN}"}
    bad = acting_web.post("/flows/ui_demo/start", data={"input": '{"n": 0}'}, headers=auth)
    assert bad.status_code == 400
    assert bad.json() == {
        "error": "the input does not match the input_schema of flow 'ui_demo':\n"
        "  input['n']: 0 is less than the minimum of 1"
    }
    not_json = acting_web.post("/flows/ui_demo/start", data={"input": "{"}, headers=auth)
    assert not_json.json() == {
        "error": "the input is not JSON: Expecting property name enclosed in double quotes"
        " (line 1, column 2)"
    }
    good = acting_web.post("/flows/ui_demo/start", data={"input": '{"n": 3}'}, headers=auth)
    run_id = good.json()["run_id"]
    assert driver.status(run_id) == "started"


def test_unknown_action_is_a_404(acting_web: TestClient, runs: Runs) -> None:
    answer = acting_web.post(
        f"/runs/{runs.running}/explode", headers={"authorization": f"Bearer {TOKEN}"}
    )
    assert answer.status_code == 404


def test_token_file_is_created_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "token"
    token, created = load_token(path)
    assert created and len(token) >= 40
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_token(path) == (token, False)


def test_token_file_open_to_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("secret\n")
    path.chmod(0o644)
    with pytest.raises(FileError) as caught:
        load_token(path)
    assert str(caught.value) == (
        f"the token file {path} is open to other users (mode 0644); run: chmod 600 {path}"
    )


AUTH = {"authorization": f"Bearer {TOKEN}"}


def test_signal_checks_the_payload_against_the_step_schema(
    acting_web: TestClient, driver: Driver, caplog: pytest.LogCaptureFixture
) -> None:
    driver.install_approval()
    run_id = driver.waiting_run()
    assert driver.step_status(run_id, "approve") == "waiting"
    url = f"/runs/{run_id}/signal"
    bad = acting_web.post(
        url, data={"step": "approve", "payload": '{"approved": "yes"}'}, headers=AUTH
    )
    assert bad.status_code == 400
    assert bad.json() == {
        "error": "the payload does not match the signal schema of step 'approve':\n"
        "  payload['approved']: 'yes' is not of type 'boolean'"
    }
    not_json = acting_web.post(url, data={"step": "approve", "payload": "{"}, headers=AUTH)
    assert not_json.json()["error"].startswith("the payload is not JSON: ")
    assert driver.step_status(run_id, "approve") == "waiting"
    with caplog.at_level("INFO", logger="pgflow_yaml.ui"):
        good = acting_web.post(
            url, data={"step": "approve", "payload": '{"approved": true}'}, headers=AUTH
        )
    assert good.json() == {"run_id": run_id, "step": "approve", "outcome": "completed"}
    assert driver.step_status(run_id, "approve") == "completed"
    assert driver.step_status(run_id, "publish") == "started"
    assert f"ui signal run {run_id} step approve task 0 from testclient: completed" in caplog.text
    again = acting_web.post(
        url, data={"step": "approve", "payload": '{"approved": true}'}, headers=AUTH
    )
    assert again.status_code == 400
    assert "already completed: a second signal is refused" in again.json()["error"]


def test_signal_form_shows_the_schema_error_and_keeps_the_payload(
    acting_web: TestClient, driver: Driver
) -> None:
    driver.install_approval()
    run_id = driver.waiting_run()
    acting_web.post("/login", data={"token": TOKEN}, headers=ORIGIN)
    page = acting_web.get(f"/runs/{run_id}").text
    assert 'id="signal-approve"' in page and "waiting for a signal" in page
    refused = acting_web.post(
        f"/runs/{run_id}/signal",
        data={"csrf": Keys(TOKEN).csrf, "step": "approve", "payload": '{"reviewer": "<b>x</b>"}'},
        headers=ORIGIN,
    )
    assert refused.status_code == 400
    assert "payload: &#39;approved&#39; is a required property" in refused.text
    assert "{&#34;reviewer&#34;: &#34;&lt;b&gt;x&lt;/b&gt;&#34;}</textarea>" in refused.text
    no_csrf = acting_web.post(
        f"/runs/{run_id}/signal", data={"step": "approve", "payload": "{}"}, headers=ORIGIN
    )
    assert no_csrf.status_code == 403
    assert driver.step_status(run_id, "approve") == "waiting"


def test_signal_and_trigger_need_the_token(acting_web: TestClient, driver: Driver) -> None:
    driver.install_approval()
    run_id = driver.waiting_run()
    signal = acting_web.post(
        f"/runs/{run_id}/signal", data={"step": "approve", "payload": '{"approved": true}'}
    )
    trigger = acting_web.post("/flows/ui_approval/schedules/nightly/trigger")
    assert (signal.status_code, trigger.status_code) == (403, 403)
    assert driver.step_status(run_id, "approve") == "waiting"
    count = driver.conn.execute("select count(*) as n from pgflow.schedule_fires").fetchone()
    assert count == {"n": 0}


def test_trigger_a_schedule_starts_a_run_with_its_input(
    acting_web: TestClient, driver: Driver, caplog: pytest.LogCaptureFixture
) -> None:
    driver.install_approval()
    with caplog.at_level("INFO", logger="pgflow_yaml.ui"):
        answer = acting_web.post("/flows/ui_approval/schedules/nightly/trigger", headers=AUTH)
    run_id = answer.json()["run_id"]
    row = driver.conn.execute(
        "select r.input, f.outcome from pgflow.runs r"
        " join pgflow.schedule_fires f using (run_id) where r.run_id = %s::uuid",
        [run_id],
    ).fetchone()
    assert row == {"input": {"title": "nightly"}, "outcome": "triggered"}
    assert f"ui trigger schedule nightly of flow ui_approval from testclient: run {run_id}" in (
        caplog.text
    )
    missing = acting_web.post("/flows/ui_approval/schedules/weekly/trigger", headers=AUTH)
    assert missing.status_code == 404
    assert missing.text == 'Schedule "weekly" of flow "ui_approval" does not exist'


def test_flows_page_shows_schedules_with_next_fire_and_pause(
    acting_web: TestClient, driver: Driver
) -> None:
    driver.install_approval()
    page = acting_web.get("/flows").text
    assert '<tr data-schedule="nightly">' in page
    assert "0 3 * * *" in page and " 03:00:00 UTC" in page
    assert "Trigger now" not in page  # not signed in
    driver.conn.execute("select pgflow.pause_schedule('ui_approval', 'nightly', true)")
    acting_web.post("/login", data={"token": TOKEN}, headers=ORIGIN)
    paused = acting_web.get("/flows").text
    assert '<span class="badge st-cancelled">paused ' in paused
    assert "Trigger now" in paused
