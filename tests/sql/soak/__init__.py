"""Soak tests of the whole core under concurrent workers (PGFLOW_SLOW=1)."""
