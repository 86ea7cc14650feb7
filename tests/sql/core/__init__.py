"""Tests that the whole SQL core can be applied again."""
