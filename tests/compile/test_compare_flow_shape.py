"""pgflow.compare_flow_shape / pgflow._get_flow_shape against flows installed by migrations."""

from __future__ import annotations

import copy
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from pgflow_yaml.shape import flow_shape
from tests.compile.helpers import apply, edge_case_flows, order_pipeline

Conn = psycopg.Connection[Any]


def compare(conn: Conn, slug: str, shape: Any) -> list[str] | None:
    row = conn.execute("select pgflow.compare_flow_shape(%s, %s)", (slug, Jsonb(shape))).fetchone()
    assert row is not None
    return row[0]  # type: ignore[no-any-return]


def test_null_when_the_flow_does_not_exist(conn: Conn) -> None:
    assert compare(conn, "order_pipeline", flow_shape(order_pipeline())) is None


@pytest.mark.parametrize("name", ["order_pipeline", *edge_case_flows()])
def test_database_shape_equals_the_python_shape(conn: Conn, name: str) -> None:
    spec = order_pipeline() if name == "order_pipeline" else edge_case_flows()[name]
    apply(conn, spec)
    row = conn.execute("select pgflow._get_flow_shape(%s)", (spec.slug,)).fetchone()
    assert row == (flow_shape(spec),)
    assert compare(conn, spec.slug, flow_shape(spec)) == []


def test_every_difference_is_listed(conn: Conn) -> None:
    apply(conn, order_pipeline())
    shape = flow_shape(order_pipeline())
    steps = shape["steps"]
    steps[1]["stepType"] = "map"
    steps[2]["dependencies"] = ["charge", "check"]
    steps[3]["whenUnmet"] = "fail"
    steps[3]["whenExhausted"] = "skip-cascade"
    steps[3]["requiredInputPattern"] = {"defined": True, "value": {"charge": {"paid": False}}}
    steps[3]["forbiddenInputPattern"] = {"defined": True, "value": {"x": "y"}}
    steps.append(dict(copy.deepcopy(steps[0]), slug="extra"))
    assert compare(conn, "order_pipeline", shape) == [
        "step count: 4 vs 5",
        "step 1 (charge): step_type single vs map",
        "step 2 (ship_item): depends_on [check] vs [charge, check]",
        "step 3 (receipt): when_unmet skip vs fail",
        "step 3 (receipt): when_exhausted fail vs skip-cascade",
        'step 3 (receipt): if {"charge": {"paid": true}} vs {"charge": {"paid": false}}',
        'step 3 (receipt): if_not (none) vs {"x": "y"}',
        "step 4 (extra): only in the compiled flow",
    ]


def test_reordered_and_removed_steps_are_listed(conn: Conn) -> None:
    apply(conn, order_pipeline())
    shape = flow_shape(order_pipeline())
    shape["steps"] = [shape["steps"][0], shape["steps"][2]]
    assert compare(conn, "order_pipeline", shape) == [
        "step count: 4 vs 2",
        "step 1 (ship_item): slug charge vs ship_item",
        "step 1 (ship_item): step_type single vs map",
        "step 2 (ship_item): only in the database",
        "step 3 (receipt): only in the database",
    ]


def test_options_are_not_shape(conn: Conn) -> None:
    apply(conn, order_pipeline())
    shape = flow_shape(order_pipeline(max_attempts=9, timeout=5))
    shape["steps"][1]["options"] = {"maxAttempts": 1}
    assert compare(conn, "order_pipeline", shape) == []


def test_dependency_order_and_key_order_do_not_matter(conn: Conn) -> None:
    apply(conn, order_pipeline())
    shape = flow_shape(order_pipeline())
    shape["steps"][3]["dependencies"] = ["ship_item", "charge"]
    shape["steps"][3] = dict(reversed(list(shape["steps"][3].items())))
    assert compare(conn, "order_pipeline", shape) == []


def test_missing_keys_take_the_defaults(conn: Conn) -> None:
    apply(conn, order_pipeline())
    shape = {"steps": [{"slug": "check"}, {"slug": "charge", "dependencies": ["check"]}]}
    assert compare(conn, "order_pipeline", shape) == [
        "step count: 4 vs 2",
        "step 2 (ship_item): only in the database",
        "step 3 (receipt): only in the database",
    ]


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ([], 'shape must be a JSON object with a "steps" array'),
        ({"steps": {}}, 'shape must be a JSON object with a "steps" array'),
        ({"steps": ["check"]}, "every element of shape.steps must be a JSON object"),
        (
            {"steps": [{"slug": "check", "dependencies": "a"}]},
            "the dependencies of a step in shape.steps must be a JSON array",
        ),
    ],
)
def test_malformed_shape_raises(conn: Conn, shape: Any, message: str) -> None:
    with pytest.raises(psycopg.errors.RaiseException, match=message):
        compare(conn, "order_pipeline", shape)


def test_assert_flow_shape_raises_one_error_listing_every_difference(conn: Conn) -> None:
    apply(conn, order_pipeline())
    shape = flow_shape(order_pipeline())
    shape["steps"][2]["dependencies"] = []
    shape["steps"][3]["whenExhausted"] = "skip"
    with pytest.raises(psycopg.Error) as caught:
        conn.execute("select pgflow.assert_flow_shape(%s, %s)", ("order_pipeline", Jsonb(shape)))
    assert caught.value.sqlstate == "PF001"
    assert caught.value.diag.message_primary == (
        "flow order_pipeline already exists with another shape (database vs compiled):\n"
        "  step 2 (ship_item): depends_on [check] vs []\n"
        "  step 3 (receipt): when_exhausted fail vs skip"
    )
    assert "new or versioned slug" in (caught.value.diag.message_hint or "")


def test_assert_flow_shape_passes_for_a_new_or_identical_flow(conn: Conn) -> None:
    shape = Jsonb(flow_shape(order_pipeline()))
    conn.execute("select pgflow.assert_flow_shape('order_pipeline', %s)", (shape,))
    apply(conn, order_pipeline())
    conn.execute("select pgflow.assert_flow_shape('order_pipeline', %s)", (shape,))
