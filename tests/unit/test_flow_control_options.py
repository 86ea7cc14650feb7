"""Validation of the flow-control keys: types by the schema, ranges and key paths PGF320-PGF323."""

from __future__ import annotations

import pytest

from pgflow_yaml.shape import flow_shape
from pgflow_yaml.validate import validate_source

HEAD = "slug: f\nsteps:\n  - slug: load\n    handler: m:load\n"


def _codes(step_lines: str, head: str = HEAD) -> list[tuple[str, int, int]]:
    text = head + "  - slug: s\n    handler: m:s\n    depends_on: [load]\n" + step_lines
    report = validate_source(text, "f.yaml")
    return [(d.code, d.span.line, d.span.col) for d in report.diagnostics]


def test_valid_options_build_the_model_and_the_shape() -> None:
    text = HEAD + (
        "  - slug: s\n    handler: m:s\n    depends_on: [load]\n"
        "    concurrency: {limit: 2, key: load.account.id}\n"
        "    rate_limit: {limit: 5, per: 60, key: run.region}\n"
        "    priority: -3\n"
    )
    report = validate_source("priority: 7\n" + text, "f.yaml")
    assert report.ok, report.render()
    (spec,) = report.flows
    assert spec.option("priority") == 7
    assert spec.option("priority", spec.steps[1]) == -3
    shape = flow_shape(spec)
    assert shape["options"]["priority"] == 7
    assert shape["steps"][1]["options"] == {
        "priority": -3,
        "concurrencyLimit": 2,
        "concurrencyKey": "load.account.id",
        "rateLimit": 5,
        "ratePer": 60,
        "rateKey": "run.region",
    }


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ("    concurrency: 0\n", [("PGF320", 8, 18)]),
        ("    rate_limit: {limit: 1, per: 0}\n", [("PGF320", 8, 33)]),
        ("    concurrency: {limit: 1, key: 'run..x'}\n", [("PGF321", 8, 34)]),
        # a step key's names are letters, digits, _, $ and - (a flow key's may hold more)
        ("    concurrency: {limit: 1, key: 'run.cust omer'}\n", [("PGF321", 8, 34)]),
        ("    concurrency: {limit: 1, key: lod.x}\n", [("PGF322", 8, 34)]),
        ("    rate_limit: {limit: 1, per: 9, key: ship.x}\n", [("PGF322", 8, 41)]),
    ],
)
def test_ranges_and_paths_are_positioned(lines: str, expected: list[tuple[str, int, int]]) -> None:
    assert _codes(lines) == expected


@pytest.mark.parametrize(
    "lines",
    [
        "    concurrency: five\n",
        "    concurrency: {key: run.x}\n",
        "    concurrency: {limit: 1, keys: run.x}\n",
        "    rate_limit: {limit: 1}\n",
        "    rate_limit: 5\n",
        "    priority: high\n",
    ],
)
def test_wrong_types_are_schema_errors(lines: str) -> None:
    codes = [code for code, _, _ in _codes(lines)]
    assert codes and all(code.startswith("PGF2") for code in codes), codes


def test_a_map_key_reads_the_element_and_a_signal_step_has_nothing_to_limit() -> None:
    text = (
        "slug: f\nsteps:\n  - slug: m\n    handler: m:m\n    map: $input\n"
        "    concurrency: {limit: 1, key: region}\n"
        "  - slug: wait\n    signal: {}\n    concurrency: 1\n"
    )
    report = validate_source(text, "f.yaml")
    assert [(d.code, d.span.line) for d in report.diagnostics] == [("PGF323", 9)]
