"""Tests of pgflow.get_run_with_states."""
