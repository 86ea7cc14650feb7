"""Handlers of ``onboard_customers.yaml`` and of its sub-flow ``enrich_customer.yaml``.

The ``enrich`` step of ``onboard_customers`` has no handler: the core starts one child run of
``enrich_customer`` per customer, and each child's output (``{"tier": ...}``) becomes the
element of ``enrich``'s output at that customer's position.
"""

from __future__ import annotations

from typing import Any


def customers(input: dict[str, Any]) -> list[dict[str, str]]:
    """Return the batch's customers, emails lower-cased: one child run each."""
    return [{"id": c["id"], "email": c["email"].lower()} for c in input["run"]["customers"]]


def lookup(input: dict[str, Any]) -> dict[str, Any]:
    """Find the customer's company from the email's domain (a stand-in for a CRM call)."""
    domain = input["run"]["email"].split("@")[-1]
    return {"id": input["run"]["id"], "company": domain.split(".")[0], "free_mail": domain in FREE}


FREE = frozenset({"gmail.com", "outlook.com", "yahoo.com"})


def tier(input: dict[str, Any]) -> dict[str, str]:
    """Give the customer a tier: business addresses get "business", the rest "personal"."""
    found = input["lookup"]
    return {"id": found["id"], "tier": "personal" if found["free_mail"] else "business"}


def summary(input: dict[str, Any]) -> dict[str, Any]:
    """Count the customers per tier, in the order the child runs gave them."""
    tiers = [child["tier"]["tier"] for child in input["enrich"]]
    return {
        "customers": len(tiers),
        "business": tiers.count("business"),
        "order": [child["tier"]["id"] for child in input["enrich"]],
    }
