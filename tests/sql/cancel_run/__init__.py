"""Tests of pgflow.cancel_run."""
