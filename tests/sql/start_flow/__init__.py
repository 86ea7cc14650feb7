"""Tests of pgflow.start_flow."""
