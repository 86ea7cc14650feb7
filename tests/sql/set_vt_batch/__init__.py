"""Tests of pgflow.set_vt_batch."""
