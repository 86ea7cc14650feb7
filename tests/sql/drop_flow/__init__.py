"""Tests of pgflow.drop_flow."""
