"""Tests of pgflow.live_workers."""
