"""Tests of pgflow.claim_tasks."""
