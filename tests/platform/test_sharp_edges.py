"""The command line and the package without sharp edges: exports, help, errors, docs that match."""

from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.main import get_command
from typer.testing import CliRunner

import pgflow_yaml
from pgflow_yaml import errors
from pgflow_yaml.cli import app
from pgflow_yaml.validate import validate_paths

REPO = Path(__file__).resolve().parents[2]
ERROR_CLASSES = [
    cls
    for name, cls in inspect.getmembers(errors, inspect.isclass)
    if issubclass(cls, BaseException)
    and cls.__module__ == errors.__name__
    and not name.startswith("_")
]


def _commands(command: Any = None, words: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Return the words of every command and group, the root included."""
    command = command or get_command(app)
    found = [words]
    for name, sub in getattr(command, "commands", {}).items():
        found += _commands(sub, (*words, name))
    return found


COMMANDS = _commands()


def pgflow(*args: str, columns: int = 80, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": str(columns), "PGFLOW_DATABASE_URL": "postgresql://x@/nodb"}
    return subprocess.run(
        [sys.executable, "-m", "pgflow_yaml", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        **kwargs,
    )


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda c: c.__name__)
def test_every_error_class_is_exported_by_the_package(cls: type[BaseException]) -> None:
    assert getattr(pgflow_yaml, cls.__name__) is cls
    assert cls.__name__ in pgflow_yaml.__all__
    assert cls.__name__ in errors.__all__


def test_wait_timeout_is_a_timeout_error_and_usage_error_a_value_error() -> None:
    exc = errors.WaitTimeout("run r is still started after 1s")
    assert isinstance(exc, TimeoutError) and isinstance(exc, errors.PgflowError)
    assert str(exc) == "run r is still started after 1s"
    assert issubclass(errors.UsageError, ValueError)
    assert str(errors.RunExists(run_id="r-1")) == "a run with id r-1 already exists"


def test_version_option() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert (result.exit_code, result.output) == (0, f"pgflow-yaml {pgflow_yaml.__version__}\n")


@pytest.mark.parametrize("words", COMMANDS, ids=lambda w: " ".join(w) or "pgflow")
def test_every_help_answers_to_h_states_exit_statuses_and_one_placeholder_style(
    words: tuple[str, ...],
) -> None:
    short = CliRunner().invoke(app, [*words, "-h"])
    long = CliRunner().invoke(app, [*words, "--help"])
    assert long.exit_code == 0, long.output
    if words != ("db", "psql"):  # psql's -h is its host option, passed on
        assert (short.exit_code, short.output) == (0, long.output)
    text = " ".join(long.output.split())
    assert "Exit status:" in text
    assert not re.search(r"<[a-z][^>]*>|\{[a-z_]+\}", long.output), long.output  # <int>, {paths}
    option_lines = r"^ {2}(?:-\w, )?--[\w-]+ ([^\s/]\S*)(?: {2}|$)"
    for placeholder in re.findall(option_lines, long.output, flags=re.M):
        assert re.fullmatch(r"[A-Z][A-Z_]*(\.\.\.)?", placeholder), placeholder


def test_help_is_wrapped_not_cut_at_80_columns() -> None:
    result = pgflow("run-worker", "--help")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(map(len, lines)) <= 80
    assert "…" not in result.stdout and "..." not in result.stdout.replace("PATH...", "")
    for option in ("--heartbeat-interval SECONDS", "--requeue-interval SECONDS"):
        assert option in result.stdout
    assert "--durable-commits / --no-durable-commits" in result.stdout
    assert "[default: 5.0; x>=0.1]" in " ".join(result.stdout.split())
    listing = pgflow("--help").stdout
    assert "..." not in listing.replace("[ARGS]...", "")
    assert "Database URL ." not in pgflow("start", "--help").stdout


def test_bad_input_json_is_one_error_line() -> None:
    result = pgflow("start", "hello", "--input", "{nope")
    assert result.returncode == 2
    assert result.stderr == (
        "error: --input is not valid JSON: Expecting property name enclosed in double quotes"
        " (line 1, column 2)\n"
    )
    assert result.stdout == ""


def test_unknown_status_is_an_error_listing_the_statuses() -> None:
    result = pgflow("runs", "--status", "bogus")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "error: unknown run status 'bogus'; use one of: queued, started, completed, failed, "
        "cancelled\n"
    )


def test_a_minimum_of_one_second_is_singular(tmp_path: Path) -> None:
    flow = tmp_path / "f.yaml"
    flow.write_text("slug: f\nbase_delay: 0\nsteps:\n  - {slug: a, handler: m.n:f}\n")
    (diag,) = validate_paths([flow]).diagnostics
    assert diag.message == "base_delay of the flow must be at least 1 second, got 0"


def test_a_valid_file_renders_a_summary(tmp_path: Path) -> None:
    flow = tmp_path / "f.yaml"
    flow.write_text("slug: f\nsteps:\n  - {slug: a, handler: m.n:f}\n")
    assert validate_paths([flow]).render("text") == "1 file checked, 1 valid flow (f)\n"
    result = pgflow("validate", str(flow))
    assert (result.returncode, result.stderr) == (0, "1 file checked, 1 valid flow (f)\n")


def test_check_handlers_reports_every_handler_past_a_malformed_path(tmp_path: Path) -> None:
    flow = tmp_path / "f.yaml"
    flow.write_text(
        "slug: f\nsteps:\n"
        '  - {slug: a, handler: "not a path!"}\n'
        "  - {slug: b, handler: nosuchmod.x:y, depends_on: [a]}\n"
    )
    report = validate_paths([flow], check_handlers=True)
    assert [(d.code, d.doc_path) for d in report.diagnostics] == [
        ("PGF401", ("steps", 0, "handler")),
        ("PGF402", ("steps", 1, "handler")),
    ]
    assert report.render("text").endswith("1 file checked, 2 errors in 1 file\n")


@pytest.mark.parametrize(
    ("condition", "hint"),
    [
        (
            "{run: {x: 1}}",
            "a dependent step's condition sees its dependencies' outputs by slug (\"a\"), not"
            ' the run input its handler gets under "run"; test the input in a root step',
        ),
        ("{c: 1}", 'add "c" to depends_on to test its output; the condition sees only "a"'),
        ("{zzz: 1}", 'the condition sees only its dependencies\' outputs: "a"'),
    ],
)
def test_condition_hint_says_what_the_condition_sees(
    tmp_path: Path, condition: str, hint: str
) -> None:
    flow = tmp_path / "f.yaml"
    flow.write_text(
        "slug: f\nsteps:\n  - {slug: a, handler: m.n:f}\n  - {slug: c, handler: m.n:f}\n"
        f"  - {{slug: b, handler: m.n:f, depends_on: [a], if: {condition}}}\n"
    )
    (diag,) = validate_paths([flow]).diagnostics
    assert (diag.code, diag.hint) == ("PGF317", hint)


def test_docs_state_the_retry_delay_pgflow_computes() -> None:
    table = (REPO / "docs" / "flow-format.md").read_text(encoding="utf-8")
    row = next(line for line in table.splitlines() if line.startswith("| `base_delay` |"))
    assert "the first retry waits 2 × base_delay" in row
    sql = (REPO / "sql" / "0020_function_calculate_retry_delay.sql").read_text()
    assert "power(2::numeric, calculate_retry_delay.attempts_count)" in sql
    fail = (REPO / "sql" / "0330_function__fail_task.sql").read_text()
    # the first failure has attempts_count 1 (minus released starts): a delay of 2 * base_delay
    assert "v_base_delay, v_task.attempts_count - v_task.released_count" in fail


def test_pre_commit_revs_shown_in_docs_exist() -> None:
    tags = subprocess.run(
        ["git", "tag"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    for page in [REPO / ".pre-commit-hooks.yaml", *sorted((REPO / "docs").glob("*.md"))]:
        for rev in re.findall(r"rev: (v[0-9][^\s]*)", page.read_text(encoding="utf-8")):
            assert rev in tags, f"{page.name} shows rev {rev}, which is not a tag"
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    assert [h["id"] for h in hooks] == ["pgflow-validate"]


def test_the_tour_migrations_folder_is_ignored() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "--out-dir migrations/" in readme
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", "migrations/x.sql"], cwd=REPO, check=False
    )
    assert ignored.returncode == 0
