"""Tests of pgflow.complete_task."""
