"""Tests of pgflow.complete_tasks."""
