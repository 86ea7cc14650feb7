"""graphs: Mermaid, DOT and text renderings of a flow's DAG."""

from __future__ import annotations

import pytest

from pgflow_yaml.graphs import render_graph, to_dot, to_mermaid, to_text
from tests.compile.helpers import edge_case_flows, flow, order_pipeline


def test_mermaid_marks_maps_and_conditions() -> None:
    assert to_mermaid(order_pipeline()).splitlines() == [
        "flowchart TD",
        '  s0["check"]',
        '  s1["charge"]',
        '  s2[["ship_item (map)"]]',
        '  s3{{"receipt<br/>if {#quot;charge#quot;:{#quot;paid#quot;:true}}, else skip"}}',
        "  s0 --> s1",
        "  s0 -->|map| s2",
        "  s1 --> s3",
        "  s2 --> s3",
    ]


def test_mermaid_root_map_takes_the_run_input() -> None:
    spec = flow("w", {"slug": "end", "map": "$input"}, {"slug": "total", "depends_on": ["end"]})
    assert to_mermaid(spec).splitlines() == [
        "flowchart TD",
        '  run_input(["run input"])',
        '  s0[["end (map)"]]',
        '  s1["total"]',
        "  run_input -->|map| s0",
        "  s0 --> s1",
    ]


def test_dot_escapes_quotes_and_backslashes() -> None:
    spec = edge_case_flows()["quotes_and_unicode"]
    dot = to_dot(spec)
    gate = next(line for line in dot.splitlines() if line.startswith("  s1 ["))
    assert gate.startswith(
        '  s1 [label="gate\\nif {\\"start\\":{\\"quote\'s\\":\\"it\'s \\\\\\"quoted'
    )
    assert gate.endswith('else skip-cascade", shape=hexagon, style=dashed];')
    assert dot.splitlines()[-2:] == ["  s0 -> s1;", "}"]


def test_dot_marks_maps() -> None:
    lines = to_dot(order_pipeline()).splitlines()
    assert '  s2 [label="ship_item\\n(map)", shape=box3d];' in lines
    assert '  s0 -> s2 [label="map"];' in lines


def test_mermaid_escapes_markup_in_conditions() -> None:
    spec = flow("m", {"slug": "a"}, {"slug": "b", "depends_on": ["a"], "if_not": {"a": '<b>"&'}})
    node = to_mermaid(spec).splitlines()[2]
    assert (
        node
        == '  s1{{"b<br/>if_not {#quot;a#quot;:#quot;#lt;b#gt;\\#quot;#amp;#quot;}, else skip"}}'
    )


def test_text_groups_by_depth() -> None:
    text = to_text(edge_case_flows()["many_steps"])
    lines = text.splitlines()
    assert lines[0] == "many_steps (200 steps)"
    assert lines[1:3] == ["  level 0", "      0  step_000         <- run input"]
    assert "      5  step_005  [map]  <- map over step_004" in lines


def test_unknown_format_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown graph format 'png'"):
        render_graph(order_pipeline(), "png")
