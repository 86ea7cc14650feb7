"""Where the database is, and how to reach it without leaking a password.

The DSN comes from ``--dsn``, else ``PGFLOW_DATABASE_URL``, else ``DATABASE_URL``, else the
embedded server (``pgflow_yaml.embedded``) with its data in ``./.pgflow/``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

ENV_VARS = ("PGFLOW_DATABASE_URL", "DATABASE_URL")
EMBEDDED_DIR = Path(".pgflow")


def resolve_dsn(dsn: str | None = None, *, embedded_dir: Path | None = None) -> str:
    """Return the DSN to use: the argument, then the environment, then the embedded server."""
    if dsn:
        return dsn
    for var in ENV_VARS:
        value = os.environ.get(var)
        if value:
            return value
    from pgflow_yaml import embedded

    url: str = embedded.server_url(embedded_dir or Path.cwd() / EMBEDDED_DIR)
    return url


_URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)(?P<pw>[^@\s]*)@")
_KV_PASSWORD = re.compile(r"(?P<head>\bpassword\s*=\s*)(?P<pw>'(?:[^'\\]|\\.)*'|\S+)", re.I)


def redact(text: str) -> str:
    """Return ``text`` with any password of a DSN (URL or key=value form) replaced by ``***``."""
    text = _URL_PASSWORD.sub(lambda m: f"{m['head']}***@", text)
    return _KV_PASSWORD.sub(lambda m: f"{m['head']}***", text)
