"""create_flow rejects invalid slugs and options with the named constraint or a message."""

import psycopg
import pytest

from ..helpers import Conn


def test_rejects_invalid_slug(conn: Conn) -> None:
    with pytest.raises(psycopg.errors.CheckViolation) as err:
        conn.execute("select pgflow.create_flow('bad-slug')")
    assert err.value.diag.constraint_name == "slug_is_valid"


@pytest.mark.parametrize(
    ("option", "value", "constraint"),
    [
        ("max_attempts", -1, "opt_max_attempts_is_nonnegative"),
        ("base_delay", -1, "opt_base_delay_is_nonnegative"),
        ("timeout", 0, "opt_timeout_is_positive"),
    ],
)
def test_rejects_out_of_range_options(conn: Conn, option: str, value: int, constraint: str) -> None:
    with pytest.raises(psycopg.errors.CheckViolation) as err:
        conn.execute(f"select pgflow.create_flow('orders', {option} => %s)", (value,))
    assert err.value.diag.constraint_name == constraint


def test_rejects_slug_too_long_for_pgmq(conn: Conn) -> None:
    with pytest.raises(psycopg.errors.RaiseException) as err:
        conn.execute("select pgflow.create_flow(%s)", ("f" * 48,))
    assert err.value.diag.message_primary == (
        f'Flow slug "{"f" * 48}" is too long for a pgmq queue (48 characters, at most 47)'
    )


def test_rejects_slug_differing_only_in_case(conn: Conn) -> None:
    conn.execute("select pgflow.create_flow('Orders')")
    with pytest.raises(psycopg.errors.UniqueViolation) as err:
        conn.execute("select pgflow.create_flow('orders')")
    assert err.value.diag.constraint_name == "flows_slug_is_unique_ignoring_case"
