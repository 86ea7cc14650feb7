"""quote_literal: every string the compiler writes reads back as exactly itself."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pgflow_yaml.compiler import CompileError, json_text, quote_json, quote_literal

# PostgreSQL text holds any Unicode scalar value except NUL; surrogates are not scalar values.
pg_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**15), 10**15) | pg_text,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(pg_text, children, max_size=4)
    ),
    max_leaves=12,
)


@pytest.fixture(scope="module")
def server(pg_server_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(pg_server_url, autocommit=True) as connection:
        yield connection


@settings(max_examples=300, deadline=None)
@given(value=pg_text)
def test_any_string_round_trips(server: psycopg.Connection[Any], value: str) -> None:
    row = server.execute(f"select {quote_literal(value)}::text").fetchone()
    assert row == (value,)


@settings(max_examples=100, deadline=None)
@given(value=pg_text)
def test_round_trips_without_standard_conforming_strings(
    server: psycopg.Connection[Any], value: str
) -> None:
    with server.transaction():
        server.execute("set local standard_conforming_strings = off")
        server.execute("set local escape_string_warning = off")
        row = server.execute(f"select {quote_literal(value)}::text").fetchone()
    assert row == (value,)


@settings(max_examples=150, deadline=None)
@given(value=json_values)
def test_any_json_value_round_trips_as_jsonb(server: psycopg.Connection[Any], value: Any) -> None:
    row = server.execute(f"select {quote_json(value)}").fetchone()
    assert row == (value,)


@pytest.mark.parametrize(
    ("value", "literal"),
    [
        ("plain", "'plain'"),
        ("it's", "'it''s'"),
        ("back\\slash", "E'back\\\\slash'"),
        ("both ' and \\", "E'both '' and \\\\'"),
        ("", "''"),
    ],
)
def test_literal_forms(value: str, literal: str) -> None:
    assert quote_literal(value) == literal


def test_nul_is_refused_with_a_clear_error() -> None:
    with pytest.raises(CompileError, match="NUL character"):
        quote_literal("a\x00b")


def test_lone_surrogate_is_refused() -> None:
    with pytest.raises(CompileError, match="not valid Unicode"):
        quote_literal("a\ud800")


def test_nul_inside_json_is_refused() -> None:
    with pytest.raises(CompileError, match="NUL character"):
        json_text({"key\x00": 1})


def test_nan_in_json_is_refused() -> None:
    with pytest.raises(CompileError, match="cannot write"):
        json_text({"x": float("nan")})


def test_escaped_backslash_u0000_text_is_not_a_nul() -> None:
    assert json_text({"a": "\\u0000"}) == '{"a":"\\\\u0000"}'
