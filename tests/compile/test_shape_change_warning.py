"""``pgflow compile`` warns when a new migration changes the shape an earlier one declared."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from pgflow_yaml.cli import app
from pgflow_yaml.compiler import compile_flow, recorded_shape, shape_changed
from pgflow_yaml.shape import flow_shape
from tests.compile.helpers import TIMESTAMP, edge_case_flows

FLOW = """\
slug: etl
steps:
  - slug: extract
    handler: etl:extract
  - slug: load
    handler: etl:load
    depends_on: [extract]
    timeout: 3
"""


@pytest.mark.parametrize("name", sorted(edge_case_flows()))
def test_the_guard_records_the_shape(name: str) -> None:
    flow = edge_case_flows()[name]
    assert recorded_shape(compile_flow(flow, timestamp=TIMESTAMP).sql) == flow_shape(flow)


def test_options_are_not_shape() -> None:
    before = compile_flow(edge_case_flows()["options_everywhere"], timestamp=TIMESTAMP).sql
    after = before.replace('"timeout":', '"timeout":1').replace("timeout => ", "timeout => 1")
    assert after != before
    assert not shape_changed(before, after)
    assert not shape_changed("-- no guard here\n", before)


def _compile(folder: Path, text: str, timestamp: str) -> tuple[int, str, str]:
    (folder / "etl.yaml").write_text(text, encoding="utf-8")
    out = str(folder / "migrations")
    result = CliRunner().invoke(
        app, ["compile", str(folder / "etl.yaml"), "--out-dir", out, "--timestamp", timestamp]
    )
    return result.exit_code, result.stdout, result.stderr


def test_warns_on_a_shape_change_next_to_an_earlier_migration(tmp_path: Path) -> None:
    assert _compile(tmp_path, FLOW, "20260101000000")[2] == ""
    code, stdout, stderr = _compile(
        tmp_path, FLOW.replace("timeout: 3", "timeout: 4"), "20260102000000"
    )
    assert (code, stderr) == (0, "")  # an option change applies in place: no warning
    assert "wrote " in stdout
    changed = FLOW.replace("    depends_on: [extract]\n", "")
    code, stdout, stderr = _compile(tmp_path, changed, "20260103000000")
    assert code == 0
    assert stdout == f"wrote {tmp_path / 'migrations' / '20260103000000_create_etl_flow.sql'}\n"
    assert stderr == (
        "warning: 20260103000000_create_etl_flow.sql changes the shape of flow etl compiled in "
        "20260102000000_create_etl_flow.sql: where that one was applied, this one stops at its "
        "shape guard; drop the flow there first (`pgflow flows drop etl`, which deletes its "
        "runs) or give the changed flow a new slug (docs/evolving-flows.md)\n"
    )
    assert _compile(tmp_path, changed, "20260104000000") == (
        0,
        f"unchanged {tmp_path / 'migrations' / '20260103000000_create_etl_flow.sql'}\n",
        "",
    )
