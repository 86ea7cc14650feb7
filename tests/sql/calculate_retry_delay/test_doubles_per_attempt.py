"""calculate_retry_delay is floor(base_delay * 2^attempts), capped instead of overflowing."""

import pytest

from ..helpers import Conn, one


@pytest.mark.parametrize(
    ("base", "attempts", "delay"), [(5, 1, 10), (5, 2, 20), (1, 0, 1), (1.5, 1, 3), (0, 4, 0)]
)
def test_doubles_per_attempt(conn: Conn, base: float, attempts: int, delay: int) -> None:
    assert (
        one(conn, "select pgflow.calculate_retry_delay(%s::numeric, %s::int)", (base, attempts))
        == delay
    )


def test_large_attempt_counts_are_capped(conn: Conn) -> None:
    assert one(conn, "select pgflow.calculate_retry_delay(5, 60)") == 2147483647
