"""Tests of pgflow.calculate_retry_delay."""
