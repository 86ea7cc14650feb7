"""add_step on an existing step updates options, and refuses to change the step's shape."""

import psycopg
import pytest

from ..helpers import Conn, rows


def test_rerun_updates_options(conn: Conn) -> None:
    conn.execute("select pgflow.create_flow('f')")
    conn.execute("select pgflow.add_step('f', 'a', max_attempts => 2, timeout => 10)")
    conn.execute("select pgflow.add_step('f', 'a', base_delay => 4, start_delay => 1)")
    (step,) = rows(conn, "select * from pgflow.steps")
    assert (step["opt_max_attempts"], step["opt_base_delay"]) == (None, 4)
    assert (step["opt_timeout"], step["opt_start_delay"], step["step_index"]) == (None, 1, 0)


def test_rerun_with_other_deps_raises_and_adds_no_edge(conn: Conn) -> None:
    conn.execute("select pgflow.create_flow('f')")
    conn.execute("select pgflow.add_step('f', 'a')")
    conn.execute("select pgflow.add_step('f', 'b')")
    with pytest.raises(psycopg.errors.RaiseException) as err:
        conn.execute("select pgflow.add_step('f', 'b', array['a'])")
    assert err.value.diag.message_primary == (
        'Step "b" of flow "f" already exists with a different shape: deps [] vs [a]'
    )
    assert rows(conn, "select * from pgflow.deps") == []


def test_rerun_with_other_type_and_modes_lists_each_difference(conn: Conn) -> None:
    conn.execute("select pgflow.create_flow('f')")
    conn.execute("select pgflow.add_step('f', 'a')")
    with pytest.raises(psycopg.errors.RaiseException) as err:
        conn.execute(
            "select pgflow.add_step('f', 'a', step_type => 'map', when_exhausted => 'skip',"
            " required_input_pattern => '{\"x\": 1}')"
        )
    assert err.value.diag.message_primary == (
        'Step "a" of flow "f" already exists with a different shape: step_type single vs map; '
        'required_input_pattern null vs {"x": 1}; when_exhausted fail vs skip'
    )


def test_rerun_with_same_deps_in_other_order_is_accepted(conn: Conn) -> None:
    conn.execute("select pgflow.create_flow('f')")
    conn.execute("select pgflow.add_step('f', 'a')")
    conn.execute("select pgflow.add_step('f', 'b')")
    conn.execute("select pgflow.add_step('f', 'c', array['a', 'b'])")
    conn.execute("select pgflow.add_step('f', 'c', array['b', 'a'], timeout => 9)")
    assert rows(conn, "select deps_count, opt_timeout from pgflow.steps where step_slug = 'c'") == [
        {"deps_count": 2, "opt_timeout": 9}
    ]
