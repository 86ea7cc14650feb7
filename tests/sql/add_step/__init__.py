"""Tests of pgflow.add_step."""
