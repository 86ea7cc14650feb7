"""Tests of pgflow.retry_run."""
