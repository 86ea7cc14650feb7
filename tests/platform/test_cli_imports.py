"""The ``pgflow`` command line imports heavy libraries only in the commands that use them.

``pgflow --help`` (and every command's ``--help``) must not load the database driver, the
graph library or the JSON Schema validator; ``pgflow validate`` must not load the driver.
Each check runs in a fresh interpreter and looks at ``sys.modules``; nothing here is timed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("psycopg", "networkx", "jsonschema")

# Prints {step: [heavy modules loaded so far]} after each step, as JSON.
SCRIPT = """\
import json, sys
heavy = json.loads(sys.argv[1])
seen = {}

def loaded():
    return sorted(m for m in heavy if m in sys.modules)

import pgflow_yaml.cli
import typer.main

seen["import pgflow_yaml.cli"] = loaded()

def run(*argv):
    sys.argv = ["pgflow", *argv]
    try:
        pgflow_yaml.cli.main()
    except SystemExit:
        pass
    seen["pgflow " + " ".join(argv)] = loaded()

run("--help")
group = typer.main.get_command(pgflow_yaml.cli.app)
for name, command in sorted(group.commands.items()):
    run(name, "--help")
    for sub in sorted(getattr(command, "commands", {})):
        run(name, sub, "--help")
run("validate", "flows_examples/hello.yaml")
print(json.dumps(seen))
"""


@pytest.fixture(scope="module")
def seen() -> dict[str, list[str]]:
    """Return the heavy modules loaded after each step of ``SCRIPT``, run once."""
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps(HEAVY)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    loaded: dict[str, list[str]] = json.loads(result.stdout.splitlines()[-1])
    return loaded


def test_help_loads_no_driver_graph_library_or_schema_validator(
    seen: dict[str, list[str]],
) -> None:
    helps = {step: mods for step, mods in seen.items() if step.endswith("--help")}
    # every command and `db` subcommand was asked for its help
    assert {"pgflow run-worker --help", "pgflow db status --help"} <= helps.keys()
    assert seen["import pgflow_yaml.cli"] == []
    assert {step: mods for step, mods in helps.items() if mods} == {}


def test_validate_loads_no_database_driver(seen: dict[str, list[str]]) -> None:
    assert "psycopg" not in seen["pgflow validate flows_examples/hello.yaml"]
