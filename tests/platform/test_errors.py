"""The exception hierarchy, its message templates, and the one place driver errors translate."""

from __future__ import annotations

import inspect

import psycopg
import pytest
from psycopg.types.json import Jsonb

import pgflow_yaml
from pgflow_yaml import db, errors
from pgflow_yaml.errors import (
    ConnectError,
    CoreNotInstalled,
    DatabaseError,
    DatabaseUnavailable,
    FlowNotFound,
    PgflowError,
    RunNotFound,
    ShapeMismatch,
    one_line,
)

PROJECT_CLASSES = [
    cls
    for _, cls in inspect.getmembers(errors, inspect.isclass)
    if issubclass(cls, BaseException) and cls.__module__ == errors.__name__
]


@pytest.mark.parametrize("cls", PROJECT_CLASSES, ids=lambda c: c.__name__)
def test_every_project_exception_is_a_pgflow_error_with_an_exit_status(
    cls: type[BaseException],
) -> None:
    if cls is errors.NonRetryable:  # raised by handlers, recorded on the task
        return
    assert issubclass(cls, PgflowError)
    assert cls.exit_code in (1, 2, 3)
    assert (cls.__doc__ or "").strip(), "the docstring is the default message"


def test_old_import_paths_name_the_same_classes() -> None:
    from pgflow_yaml import compiler, core, drift, embedded, handlers, validate
    from pgflow_yaml.worker import errors as worker_errors

    assert db.DatabaseError is worker_errors.DatabaseError is errors.DatabaseError
    assert db.ConnectError is errors.ConnectError
    assert worker_errors.CoreMissing is errors.CoreNotInstalled
    assert core.InstallError is errors.InstallError
    assert drift.DriftCheckError is errors.DriftCheckError
    assert compiler.CompileError is errors.CompileError
    assert handlers.HandlerImportError is errors.HandlerImportError
    assert validate.FlowValidationError is errors.FlowValidationError
    assert embedded.EmbeddedServerError is errors.EmbeddedServerError
    assert pgflow_yaml.PgflowError is PgflowError and pgflow_yaml.RunNotFound is RunNotFound


def test_the_docstring_is_the_message_template() -> None:
    assert str(RunNotFound(run_id="r-1")) == "no run r-1"
    assert str(FlowNotFound(flow_slug="orders")) == (
        "no flow 'orders' in the database (apply its migration first)"
    )
    assert str(DatabaseError()) == "the database rejected a statement"
    assert str(DatabaseError(statement="x")) == "the database rejected a statement (statement=x)"
    assert str(RunNotFound("said otherwise")) == "said otherwise"


def test_exit_status_2_is_misuse_or_an_environment_that_cannot_be_used() -> None:
    assert errors.UsageError.exit_code == 2
    assert ConnectError.exit_code == DatabaseUnavailable.exit_code == 2
    assert errors.EmbeddedServerError.exit_code == 2
    assert errors.DriftCheckError.exit_code == 2  # compile --check: "no core" is exit 2
    assert CoreNotInstalled.exit_code == 2  # and so for every command (start, status...)
    assert errors.InstallError.exit_code == errors.RunError.exit_code == 1


def test_exit_status_3_is_only_a_wait_that_no_worker_can_end() -> None:
    assert [c for c in PROJECT_CLASSES if getattr(c, "exit_code", 1) == 3] == [errors.NoWorker]
    assert issubclass(errors.NoWorker, errors.WaitTimeout)
    assert errors.WaitTimeout.exit_code == errors.RunFailed.exit_code == 1
    assert errors.RunCancelled.exit_code == 1
    assert str(errors.NoWorker("etl")) == (
        "no worker serves flow etl; start one with `pgflow run-worker PATH`"
    )


def test_one_line_joins_a_heading_with_its_only_item() -> None:
    assert one_line("the flows are invalid:\n  a.yaml: bad") == "the flows are invalid: a.yaml: bad"
    listed = "2 handler(s) cannot be imported:\n  a\n  b"
    assert one_line(listed) == listed
    assert one_line("plain") == "plain"


def _raised(conn: psycopg.Connection[tuple[object, ...]], sql: str, *params: object) -> Exception:
    with pytest.raises(psycopg.Error) as caught:
        conn.execute(sql, params)
    return db.translate(caught.value)


def test_translate_keys_on_sqlstate_and_constraint(
    conn: psycopg.Connection[tuple[object, ...]],
) -> None:
    missing = _raised(conn, "select pgflow.no_such_function()")
    assert type(missing) is CoreNotInstalled
    assert str(missing) == (
        "the pgflow core is missing or outdated here: function pgflow.no_such_function() does"
        " not exist; run `pgflow install`"
    )
    unknown_flow = _raised(conn, "select pgflow.start_flow('nope', '{}'::jsonb)")
    assert type(unknown_flow) is FlowNotFound
    conn.execute("select pgflow.create_flow('f')")
    conn.execute("select pgflow.add_step('f', 'a')")
    shape = {"steps": [{"slug": "b", "stepType": "single", "dependencies": []}]}
    differs = _raised(conn, "select pgflow.assert_flow_shape('f', %s)", Jsonb(shape))
    assert type(differs) is ShapeMismatch
    assert str(differs).startswith("flow f already exists with another shape")
    other = _raised(conn, "select 1/0")
    assert type(other) is DatabaseError and str(other) == "division by zero"


def test_translate_a_lost_connection_without_the_password() -> None:
    lost = db.translate(psycopg.OperationalError("postgresql://u:secret@h/db: server closed"))
    assert type(lost) is DatabaseUnavailable
    assert "secret" not in str(lost)
