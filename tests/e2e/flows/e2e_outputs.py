"""Handlers of e2e_not_json: each returns a value JSON cannot hold, as handlers do by mistake."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def returns_datetime(input: Any) -> dict[str, Any]:
    """Return a timestamp as a datetime object instead of a string."""
    return {"at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)}


def returns_set(input: Any) -> set[str]:
    """Return a set (JSON has arrays only)."""
    return {"a", "b"}
