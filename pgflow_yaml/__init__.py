"""pgflow-yaml: a Postgres-native workflow engine for Python."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pgflow_yaml.errors import (
    CompileError,
    ConnectError,
    CoreMissing,
    CoreNotInstalled,
    CoreVersionMismatch,
    DatabaseError,
    DatabaseUnavailable,
    DefinitionError,
    DriftCheckError,
    EmbeddedServerError,
    EmbeddedServerNotRunning,
    FileError,
    FlowInUse,
    FlowNotFound,
    FlowValidationError,
    HandlerImportError,
    HandlerImportErrors,
    InputNotDecodable,
    InstallError,
    InvalidInput,
    NestedTooDeep,
    NonRetryable,
    NoWorker,
    OutputNotJson,
    PgflowError,
    RunCancelled,
    RunError,
    RunExists,
    RunFailed,
    RunNotFinished,
    RunNotFound,
    ScheduleNotFound,
    ShapeMismatch,
    SignalRefused,
    StartupError,
    TaskTimeout,
    UsageError,
    WaitTimeout,
)

if TYPE_CHECKING:
    from pgflow_yaml.client import AsyncClient, Client

__version__ = "0.3.0"

__all__ = [
    "AsyncClient",
    "Client",
    "CompileError",
    "ConnectError",
    "CoreMissing",
    "CoreNotInstalled",
    "CoreVersionMismatch",
    "DatabaseError",
    "DatabaseUnavailable",
    "DefinitionError",
    "DriftCheckError",
    "EmbeddedServerError",
    "EmbeddedServerNotRunning",
    "FileError",
    "FlowInUse",
    "FlowNotFound",
    "FlowValidationError",
    "HandlerImportError",
    "HandlerImportErrors",
    "InputNotDecodable",
    "InstallError",
    "InvalidInput",
    "NestedTooDeep",
    "NoWorker",
    "NonRetryable",
    "OutputNotJson",
    "PgflowError",
    "RunCancelled",
    "RunError",
    "RunExists",
    "RunFailed",
    "RunNotFinished",
    "RunNotFound",
    "ScheduleNotFound",
    "ShapeMismatch",
    "SignalRefused",
    "StartupError",
    "TaskTimeout",
    "UsageError",
    "WaitTimeout",
    "__version__",
]


def __getattr__(name: str) -> Any:
    """Import the client lazily, so the definition layer never loads a database driver."""
    if name in ("Client", "AsyncClient"):
        from pgflow_yaml import client

        return getattr(client, name)
    raise AttributeError(f"module 'pgflow_yaml' has no attribute {name!r}")
