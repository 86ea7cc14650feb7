"""Handlers of ``word_stats.toml``."""

from __future__ import annotations

from typing import Any


def count_words(document: str) -> int:
    """Count the words of one document (a map task over the run input)."""
    return len(document.split())


def total(input: dict[str, Any]) -> dict[str, int]:
    """Total the per-document counts (``count`` is the ordered array of map outputs)."""
    counts = input["count"]
    return {"documents": len(counts), "words": sum(counts)}
