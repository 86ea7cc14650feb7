"""Fixtures of the worker tests: a database holding the real pgflow 0.8.1 core."""

from tests.compat.pgflow081 import pgflow081_dsn, pgflow081_template  # noqa: F401
