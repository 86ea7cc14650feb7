"""add_step on an existing step sets the options given, keeps the others, and refuses to change
the step's shape."""

import psycopg
import pytest

from ..helpers import Conn, rows


def _options(conn: Conn, step_slug: str = "a") -> tuple[int | None, ...]:
    (step,) = rows(conn, "select * from pgflow.steps where step_slug = %s", (step_slug,))
    return (
        step["opt_max_attempts"],
        step["opt_base_delay"],
        step["opt_timeout"],
        step["opt_start_delay"],
    )


def test_first_call_leaves_omitted_options_to_the_flow(conn: Conn) -> None:
    conn.execute("select pgflow.create_flow('f')")
    conn.execute("select pgflow.add_step('f', 'a', timeout => 10)")
    assert _options(conn) == (None, None, 10, None)


def test_bare_rerun_keeps_every_option(conn: Conn) -> None:
    conn.execute("select pgflow.create_flow('f')")
    conn.execute(
        "select pgflow.add_step('f', 'a', max_attempts => 2, base_delay => 3, timeout => 10,"
        " start_delay => 4)"
    )
    (step,) = rows(conn, "select * from pgflow.add_step('f', 'a')")
    assert (step["opt_max_attempts"], step["opt_timeout"], step["step_index"]) == (2, 10, 0)
    assert _options(conn) == (2, 3, 10, 4)


def test_rerun_sets_given_options_and_keeps_the_others(conn: Conn) -> None:
    conn.execute("select pgflow.create_flow('f')")
    conn.execute("select pgflow.add_step('f', 'a', max_attempts => 2, timeout => 10)")
    conn.execute("select pgflow.add_step('f', 'a', base_delay => 4, start_delay => 1)")
    assert _options(conn) == (2, 4, 10, 1)


def test_explicit_null_goes_back_to_inheriting_the_flow(conn: Conn) -> None:
    conn.execute("select pgflow.create_flow('f')")
    conn.execute("select pgflow.add_step('f', 'a', max_attempts => 2, timeout => 10)")
    conn.execute("select pgflow.add_step('f', 'a', max_attempts => null, base_delay => 6)")
    assert _options(conn) == (None, 6, 10, None)


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
