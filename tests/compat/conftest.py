"""Fixtures for the pgflow 0.8.1 interop tests: a database holding the real 0.8.1 core.

``pgflow081_dsn`` (and the session ``pgflow081_template`` behind it) live in pgflow081.py so that
other test folders can take them into their own conftest.py the same way.
"""

from __future__ import annotations

from tests.compat.pgflow081 import pgflow081_dsn, pgflow081_template

__all__ = ["pgflow081_dsn", "pgflow081_template"]
