"""Tests of pgflow.start_flows."""
