"""Tests of pgflow.create_flow."""
