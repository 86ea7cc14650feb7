"""Handlers of ``order_pipeline.yaml``."""

from __future__ import annotations

from typing import Any


def check_order(input: dict[str, Any]) -> list[dict[str, Any]]:
    """Check the order and return the items to ship (an array: ``ship_item`` maps over it)."""
    items = input["run"]["items"]
    if not items:
        return []
    for item in items:
        if item.get("qty", 1) <= 0:
            raise ValueError(f"item {item.get('sku')!r} has a non-positive quantity")
    return [dict(item, order_id=input["run"]["order_id"]) for item in items]


def charge(input: dict[str, Any]) -> dict[str, Any]:
    """Charge the order: 10 per unit."""
    amount = sum(10 * item.get("qty", 1) for item in input["check"])
    return {"paid": amount > 0, "amount": amount}


def ship_item(item: dict[str, Any]) -> dict[str, Any]:
    """Ship one item (a map task: the input is one element of ``check``'s output)."""
    return {"sku": item.get("sku"), "shipped": True}


def send_receipt(input: dict[str, Any]) -> str:
    """Send the receipt once the order is paid and every item shipped."""
    shipped = len(input["ship_item"])
    return f"order {input['run']['order_id']}: paid {input['charge']['amount']}, {shipped} shipped"
