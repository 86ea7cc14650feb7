"""Tests of pgflow.prune."""
