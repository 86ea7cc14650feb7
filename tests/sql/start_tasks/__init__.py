"""Tests of pgflow.start_tasks."""
