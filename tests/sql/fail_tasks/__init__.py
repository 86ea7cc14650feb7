"""Tests of pgflow.fail_tasks."""
