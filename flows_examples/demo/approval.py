"""Handlers of ``approval.yaml`` (the ``approve`` step has none: it waits for a signal)."""

from __future__ import annotations

from typing import Any


def draft(input: dict[str, Any]) -> dict[str, str]:
    """Write the draft of a post from the run input's ``title``."""
    title = input["run"]["title"]
    return {"title": title, "body": f"{title}: the details follow."}


def publish(input: dict[str, Any]) -> dict[str, Any]:
    """Publish the approved draft, naming who approved it."""
    return {
        "published": input["draft"]["title"],
        "approved_by": input["approve"].get("reviewer", "someone"),
    }


def notify_rejection(input: dict[str, Any]) -> dict[str, Any]:
    """Tell the author why the draft was turned down."""
    return {"rejected": True, "note": input["approve"].get("note", "no reason given")}
