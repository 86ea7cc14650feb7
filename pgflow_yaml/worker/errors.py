"""The exceptions of the execution layer (worker and client), kept under their old import path.

They live in ``pgflow_yaml.errors`` under the one root ``PgflowError``.
"""

from __future__ import annotations

from pgflow_yaml.errors import (
    CoreMissing,
    CoreNotInstalled,
    DatabaseError,
    DatabaseUnavailable,
    FlowNotFound,
    HandlerImportErrors,
    InputNotDecodable,
    InvalidInput,
    NestedTooDeep,
    NonRetryable,
    OutputNotJson,
    PgflowError,
    RunNotFound,
    ShapeMismatch,
    StartupError,
    TaskTimeout,
    WaitTimeout,
)

__all__ = [
    "CoreMissing",
    "CoreNotInstalled",
    "DatabaseError",
    "DatabaseUnavailable",
    "FlowNotFound",
    "HandlerImportErrors",
    "InputNotDecodable",
    "InvalidInput",
    "NestedTooDeep",
    "NonRetryable",
    "OutputNotJson",
    "PgflowError",
    "RunNotFound",
    "ShapeMismatch",
    "StartupError",
    "TaskTimeout",
    "WaitTimeout",
]
