"""The web dashboard (``pgflow ui``): runs, a run's DAG and tasks, flows, workers, live.

A small ASGI app (Starlette, served by uvicorn) with server-rendered Jinja2 pages and one small
script; live updates are Server-Sent Events fed by one LISTEN connection of the server
(``live.Hub``). Read-only unless started with actions, which then need the bearer token.

- ``data``: the database side (a few connections, the named queries of ``queries/ui.sql``).
- ``pictures``: the DAG and the task timeline drawn as SVG on the server.
- ``auth``: the token file, the session cookie, CSRF tokens.
- ``live``: the LISTEN connection and its fan-out to the open pages.
- ``app``: the routes and pages.

Starlette, uvicorn and Jinja2 come with the ``ui`` extra (``pip install 'pgflow-yaml[ui]'``).
"""

from __future__ import annotations

import importlib.util

from pgflow_yaml.errors import UsageError

EXTRA_MODULES = ("starlette", "uvicorn", "jinja2")


def require_extra() -> None:
    """Check that the ``ui`` extra is installed.

    Raises:
        UsageError: a module of the extra is missing; the message says how to install it.
    """
    missing = [m for m in EXTRA_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        raise UsageError(f"pgflow ui needs {', '.join(missing)}: pip install 'pgflow-yaml[ui]'")
