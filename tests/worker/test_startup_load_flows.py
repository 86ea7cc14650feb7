"""The worker loads its flow files through the definition layer's load_flows."""

from __future__ import annotations

from pathlib import Path

import pytest

from pgflow_yaml.validate import FlowSelectionError, load_flows
from pgflow_yaml.worker import startup
from pgflow_yaml.worker.errors import StartupError

FLOW = "slug: {slug}\nsteps:\n  - slug: a\n    handler: pkg.mod:a\n"


def _flows(folder: Path, *slugs: str) -> Path:
    folder.mkdir(exist_ok=True)
    for i, slug in enumerate(slugs):
        (folder / f"{i}_{slug}.yaml").write_text(FLOW.format(slug=slug), encoding="utf-8")
    return folder


def test_slugs_that_differ_only_in_case_stop_the_worker(tmp_path: Path) -> None:
    folder = _flows(tmp_path / "flows", "orders", "Orders")
    with pytest.raises(StartupError) as info:
        startup.load_flows([folder])
    message = str(info.value)
    assert message.startswith("the flow files are invalid:\n")
    assert (
        f'{folder / "1_Orders.yaml"}:1:7: error[PGF306] flow slug "Orders" is already used by '
        f'{folder / "0_orders.yaml"} ("orders")'
    ) in message


def test_only_keeps_the_named_flows_in_file_order(tmp_path: Path) -> None:
    folder = _flows(tmp_path / "flows", "first", "second", "third")
    flows = startup.load_flows([folder], only=["third", "first", "third"])
    assert [flow.slug for flow in flows] == ["first", "third"]
    assert [f.slug for f in load_flows([folder], only=["second"])] == ["second"]


def test_an_unknown_slug_names_what_was_found(tmp_path: Path) -> None:
    folder = _flows(tmp_path / "flows", "first")
    with pytest.raises(FlowSelectionError) as info:
        load_flows([folder], only=["frist"])
    assert str(info.value) == "no flow named 'frist' in the files given (found: first)"
    with pytest.raises(StartupError, match=r"^no flow named 'frist' in the files given"):
        startup.load_flows([folder], only=["frist"])


def test_no_paths_means_no_flow(tmp_path: Path) -> None:
    assert load_flows([]) == []
    with pytest.raises(StartupError) as info:
        startup.load_flows([])
    assert str(info.value) == "no flow found in "
