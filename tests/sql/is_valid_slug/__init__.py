"""Tests of pgflow.is_valid_slug."""
