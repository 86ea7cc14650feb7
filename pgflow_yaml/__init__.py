"""pgflow-yaml: a Postgres-native workflow engine for Python."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pgflow_yaml.errors import (
    CompileError,
    CoreNotInstalled,
    DatabaseError,
    DatabaseUnavailable,
    FlowNotFound,
    FlowValidationError,
    InvalidInput,
    NonRetryable,
    NoWorker,
    PgflowError,
    RunCancelled,
    RunError,
    RunFailed,
    RunNotFinished,
    RunNotFound,
    WaitTimeout,
)

if TYPE_CHECKING:
    from pgflow_yaml.client import AsyncClient, Client

__version__ = "0.3.0"

__all__ = [
    "AsyncClient",
    "Client",
    "CompileError",
    "CoreNotInstalled",
    "DatabaseError",
    "DatabaseUnavailable",
    "FlowNotFound",
    "FlowValidationError",
    "InvalidInput",
    "NoWorker",
    "NonRetryable",
    "PgflowError",
    "RunCancelled",
    "RunError",
    "RunFailed",
    "RunNotFinished",
    "RunNotFound",
    "WaitTimeout",
    "__version__",
]


def __getattr__(name: str) -> Any:
    """Import the client lazily, so the definition layer never loads a database driver."""
    if name in ("Client", "AsyncClient"):
        from pgflow_yaml import client

        return getattr(client, name)
    raise AttributeError(f"module 'pgflow_yaml' has no attribute {name!r}")
