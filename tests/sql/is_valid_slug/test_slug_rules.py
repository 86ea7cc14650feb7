"""is_valid_slug accepts identifiers of at most 128 characters, except "run"."""

import pytest

from ..helpers import Conn, one


@pytest.mark.parametrize(
    ("slug", "valid"),
    [
        ("fetch", True),
        ("_private", True),
        ("Step_2", True),
        ("a" * 128, True),
        ("a" * 129, False),
        ("2fast", False),
        ("has-dash", False),
        ("has space", False),
        ("", False),
        ("run", False),
    ],
)
def test_slug_rules(conn: Conn, slug: str, valid: bool) -> None:
    assert one(conn, "select pgflow.is_valid_slug(%s)", (slug,)) is valid


def test_null_is_not_a_slug(conn: Conn) -> None:
    assert one(conn, "select pgflow.is_valid_slug(null)") is False
