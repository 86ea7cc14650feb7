"""Tests of pgflow.release_tasks."""
