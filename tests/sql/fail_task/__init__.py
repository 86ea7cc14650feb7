"""Tests of pgflow.fail_task."""
