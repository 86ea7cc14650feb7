"""Handlers of the example flows."""
