"""Tests of pgflow.start_flow_with_states."""
