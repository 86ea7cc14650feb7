"""Handlers of ``hello.yaml``."""

from __future__ import annotations

from typing import Any


def greet(input: dict[str, Any]) -> str:
    """Build a greeting from the run input's ``name``."""
    return f"Hello, {input['run'].get('name', 'world')}!"


def shout(input: dict[str, Any]) -> dict[str, str]:
    """Shout the greeting of the ``greet`` step."""
    return {"message": input["greet"].upper()}
