"""Randomised differential test: generated flows (chains, fan-ins, root and dependent maps,
empty arrays, falsy outputs, a transient failure) run through the pgflow 0.8.1 worker protocol
on our core and on the real 0.8.1 core must leave the same runs, states, tasks and inputs.

Flows are kept where both cores are meant to agree: runs that end ``completed``. Run failures
(where we deliberately differ: sibling tasks end ``cancelled`` instead of staying ``queued``)
have their own hand-written scenarios in test_differential_081.py.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.compat.pgflow081 import create_database, drop_database
from tests.compat.protocol081 import Definition, Handler, HandlerFailed, common, play

_flows = itertools.count()


def _digest(value: Any) -> int:
    return int(hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:8], 16)


@st.composite
def flows(draw: st.DrawFn) -> tuple[Definition, Any, dict[str, Handler]]:
    """Draw a flow definition, a run input and deterministic handlers for it."""
    size = draw(st.integers(min_value=1, max_value=5))
    slug = f"rnd_{os.getpid()}_{next(_flows)}"
    steps: list[dict[str, Any]] = []
    kinds: dict[str, str] = {}
    feeds_map: set[str] = set()
    for i in range(size):
        name = f"s{i}"
        earlier = [s["step_slug"] for s in steps]
        is_map = draw(st.booleans())
        if is_map:
            deps = draw(st.lists(st.sampled_from(earlier), max_size=1)) if earlier else []
        else:
            deps = draw(st.lists(st.sampled_from(earlier), unique=True)) if earlier else []
        step: dict[str, Any] = {"step_slug": name}
        if deps:
            step["deps_slugs"] = deps
        if is_map:
            step["step_type"] = "map"
            feeds_map.update(deps)
        steps.append(step)
        kinds[name] = "map" if is_map else "single"
    flaky = draw(st.sets(st.sampled_from(sorted(kinds)), max_size=2))
    has_root_map = any(kinds[s["step_slug"]] == "map" and "deps_slugs" not in s for s in steps)
    width = draw(st.integers(min_value=0, max_value=3))
    run_input: Any = list(range(width)) if has_root_map else {"seed": width}
    salt = draw(st.integers(min_value=0, max_value=1000))

    def handler_for(name: str) -> Handler:
        def handler(task_input: Any, attempt: int) -> Any:
            if name in flaky and attempt == 1:
                raise HandlerFailed(f"{name} fails its first attempt")
            code = _digest([name, task_input, salt])
            if name in feeds_map:
                return [code % 10 + k for k in range(code % 4)]  # an array, maybe empty
            return [0, False, "", None, {"v": code % 100}, [code % 3]][code % 6]

        return handler

    definition: Definition = [
        ("create_flow", {"flow_slug": slug, "max_attempts": 2, "base_delay": 0})
    ] + [("add_step", {"flow_slug": slug, **s}) for s in steps]
    return definition, run_input, {name: handler_for(name) for name in kinds}


@pytest.fixture(scope="module")
def both_cores(
    pg_server_url: str, template_db: str, pgflow081_template: str
) -> Iterator[tuple[str, str]]:
    """Return one database with our core and one with pgflow 0.8.1, shared by the examples."""
    ours, theirs = f"pgflow_rnd_ours_{os.getpid()}", f"pgflow_rnd_081_{os.getpid()}"
    yield (
        create_database(pg_server_url, ours, template=template_db),
        create_database(pg_server_url, theirs, template=pgflow081_template),
    )
    drop_database(pg_server_url, ours)
    drop_database(pg_server_url, theirs)


@settings(
    max_examples=int(os.environ.get("PGFLOW_DIFF_EXAMPLES", "25")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(flow=flows())
def test_generated_flows_match_pgflow_081(
    flow: tuple[Definition, Any, dict[str, Handler]], both_cores: tuple[str, str]
) -> None:
    definition, run_input, handlers = flow
    ours_dsn, theirs_dsn = both_cores
    theirs, theirs_seen = play(theirs_dsn, definition, run_input, handlers)
    assert theirs["run"]["status"] == "completed", "generator made a flow that does not complete"
    ours, ours_seen = play(ours_dsn, definition, run_input, handlers)
    assert ours_seen == theirs_seen, "handlers received different inputs"
    ours_common, theirs_common = common(ours, theirs)
    assert ours_common == theirs_common
