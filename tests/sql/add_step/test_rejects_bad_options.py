"""add_step rejects bad options, step types, patterns and modes by constraint name."""

import psycopg
import pytest

from ..helpers import Conn


@pytest.mark.parametrize(
    ("args", "constraint"),
    [
        ("max_attempts => -1", "opt_max_attempts_is_nonnegative"),
        ("base_delay => -1", "opt_base_delay_is_nonnegative"),
        ("timeout => 0", "opt_timeout_is_positive"),
        ("start_delay => -1", "opt_start_delay_is_nonnegative"),
        ("step_type => 'loop'", "steps_step_type_check"),
        ("required_input_pattern => '[1]'", "required_input_pattern_is_object"),
        ("forbidden_input_pattern => '\"x\"'", "forbidden_input_pattern_is_object"),
        ("when_unmet => 'ignore'", "when_unmet_is_valid"),
        ("when_exhausted => 'retry'", "when_exhausted_is_valid"),
    ],
)
def test_rejects_bad_option(conn: Conn, args: str, constraint: str) -> None:
    conn.execute("select pgflow.create_flow('f')")
    with pytest.raises(psycopg.errors.CheckViolation) as err:
        conn.execute(f"select pgflow.add_step('f', 'a', {args})")
    assert err.value.diag.constraint_name == constraint
