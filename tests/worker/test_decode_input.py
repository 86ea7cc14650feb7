"""Decoding a claimed task's input, and the nesting limit of run inputs (no database)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pgflow_yaml.worker.errors import InputNotDecodable, NestedTooDeep
from pgflow_yaml.worker.protocol import _failures_json, _results_json
from pgflow_yaml.worker.runner import (
    MAX_INPUT_DEPTH,
    Failure,
    Outcome,
    Task,
    check_json,
    decode_input,
)


def nested_text(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_decodes_an_input_nested_to_the_limit() -> None:
    value = decode_input(nested_text(MAX_INPUT_DEPTH))
    assert isinstance(value, list)


def test_an_input_too_deep_for_python_is_a_clear_error_not_a_recursion_error() -> None:
    with pytest.raises(InputNotDecodable) as info:
        decode_input('{"run": ' + nested_text(2000) + "}")
    assert str(info.value) == "task input could not be decoded: nested deeper than 512 levels"


def test_an_integer_python_refuses_is_a_clear_error() -> None:
    with pytest.raises(InputNotDecodable, match=r"^task input could not be decoded: Exceeds the"):
        decode_input('{"n": ' + "7" * 5000 + "}")


def test_a_null_input_decodes_to_none() -> None:
    assert decode_input(None) is None


def nested(depth: int) -> Any:
    value: Any = {}
    for _ in range(depth - 1):
        value = {"k": value}
    return value


def test_check_json_accepts_the_limit_and_refuses_one_more_level() -> None:
    check_json(nested(MAX_INPUT_DEPTH), "input", MAX_INPUT_DEPTH)
    with pytest.raises(NestedTooDeep, match=r"^input is nested deeper than 512 levels$"):
        check_json(nested(MAX_INPUT_DEPTH + 1), "input", MAX_INPUT_DEPTH)
    check_json(nested(MAX_INPUT_DEPTH + 1), "output")  # no limit unless asked


def test_reports_carry_the_start_seq_fence() -> None:
    task = Task("f", "00000000-0000-0000-0000-000000000001", "s", 2, 7, 1, 5, None, 41)
    (done,) = json.loads(_results_json([Outcome(task, output_json="3")]))
    assert (done["attempt"], done["start_seq"], done["output"]) == (1, 41, 3)
    failure = Failure("bad", "InputNotDecodable", None, retryable=False)
    (failed,) = json.loads(_failures_json([Outcome(task, failure=failure)]))
    assert (failed["start_seq"], failed["retryable"]) == (41, False)
