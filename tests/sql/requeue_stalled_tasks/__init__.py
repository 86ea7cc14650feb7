"""Tests of pgflow.requeue_stalled_tasks."""
