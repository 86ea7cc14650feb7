"""add_step rejects unknown flows, unknown or self dependencies and wide map steps."""

import psycopg
import pytest

from ..helpers import Conn


def test_rejects_unknown_flow(conn: Conn) -> None:
    with pytest.raises(psycopg.errors.ForeignKeyViolation) as err:
        conn.execute("select pgflow.add_step('nope', 'a')")
    assert err.value.diag.constraint_name == "steps_flow_slug_fkey"


def test_rejects_unknown_dependency(conn: Conn) -> None:
    conn.execute("select pgflow.create_flow('f')")
    with pytest.raises(psycopg.errors.ForeignKeyViolation) as err:
        conn.execute("select pgflow.add_step('f', 'b', array['missing'])")
    assert err.value.diag.constraint_name == "deps_flow_slug_dep_slug_fkey"


def test_rejects_self_dependency(conn: Conn) -> None:
    conn.execute("select pgflow.create_flow('f')")
    with pytest.raises(psycopg.errors.CheckViolation) as err:
        conn.execute("select pgflow.add_step('f', 'a', array['a'])")
    assert err.value.diag.constraint_name == "deps_check"


def test_rejects_map_with_two_dependencies(conn: Conn) -> None:
    conn.execute("select pgflow.create_flow('f')")
    conn.execute("select pgflow.add_step('f', 'a')")
    conn.execute("select pgflow.add_step('f', 'b')")
    with pytest.raises(psycopg.errors.RaiseException) as err:
        conn.execute("select pgflow.add_step('f', 'm', array['a', 'b'], step_type => 'map')")
    assert err.value.diag.message_primary == (
        'Map step "m" can have at most one dependency, but 2 were provided: a, b'
    )


def test_rejects_invalid_step_slug(conn: Conn) -> None:
    conn.execute("select pgflow.create_flow('f')")
    with pytest.raises(psycopg.errors.CheckViolation) as err:
        conn.execute("select pgflow.add_step('f', 'run')")
    assert err.value.diag.constraint_name == "steps_step_slug_check"
