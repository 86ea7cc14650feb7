"""Tests of pgflow.maybe_complete_run."""
