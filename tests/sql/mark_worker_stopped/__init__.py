"""Tests of pgflow.mark_worker_stopped."""
