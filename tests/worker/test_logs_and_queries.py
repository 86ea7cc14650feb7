"""Structured logs and the named-query registry (no database)."""

from __future__ import annotations

import io
import json
import logging

import pytest

from pgflow_yaml import queries
from pgflow_yaml.worker import logs


def emit(fmt: logs.LogFormat, message: str, **extra: object) -> str:
    stream = io.StringIO()
    logs.configure(fmt, logging.INFO, stream)
    logging.getLogger("pgflow_yaml.worker").info(message, extra=extra)
    return stream.getvalue().strip()


def test_json_lines_carry_the_action_and_the_fields() -> None:
    line = json.loads(
        emit("json", "task completed", action="task_completed", run_id="r1", task_index=0)
    )
    assert line["action"] == "task_completed"
    assert line["run_id"] == "r1" and line["task_index"] == 0
    assert line["level"] == "info" and line["message"] == "task completed"


def test_text_lines_start_with_the_action() -> None:
    line = emit("text", "task failed", action="task_failed", step_slug="charge")
    assert " task_failed task failed step_slug=charge" in line


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_passwords_never_reach_a_log_line(fmt: logs.LogFormat) -> None:
    line = emit(
        fmt,
        "cannot reach postgresql://app:s3cret@db:5432/x",
        action="reconnect_failed",
        error="connection to password=hunter2 host=db failed",
    )
    assert "s3cret" not in line and "hunter2" not in line
    assert "***" in line


def test_every_packaged_query_has_a_name_and_description() -> None:
    found = queries.all_queries()
    assert {"claim_tasks", "complete_tasks", "fail_tasks", "release_tasks", "start_many"} <= set(
        found
    )
    for query in found.values():
        assert query.description and not query.description.startswith("--")
        assert not query.sql.endswith(";")


def test_parse_rejects_a_query_without_description() -> None:
    with pytest.raises(ValueError, match="no one-line description"):
        queries.parse("-- name: q\nselect 1;\n")


def test_parse_rejects_a_repeated_name() -> None:
    with pytest.raises(ValueError, match="defined twice"):
        queries.parse("-- name: q\n-- one\nselect 1;\n-- name: q\n-- two\nselect 2;\n")


def test_driver_errors_are_translated_with_the_password_redacted() -> None:
    import psycopg

    from pgflow_yaml.worker.errors import DatabaseUnavailable

    exc = queries.translate(psycopg.OperationalError("postgresql://u:pw@h/db refused"))
    assert isinstance(exc, DatabaseUnavailable)
    assert "pw@" not in str(exc)
