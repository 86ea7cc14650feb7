"""Tests of the SQL core, one folder per function, against a real PostgreSQL."""
