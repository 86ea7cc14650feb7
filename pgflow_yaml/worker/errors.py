"""The exceptions of the execution layer (worker and client).

Each class carries its default message in its docstring, so raise sites stay short:
``raise RunNotFound(run_id=...)`` reads well and the text lives in one place.
"""

from __future__ import annotations

from typing import Any


class PgflowError(Exception):
    """A pgflow-yaml error."""

    def __init__(self, message: str | None = None, **context: Any) -> None:
        self.context = context
        default = (self.__doc__ or "").strip().splitlines()[0] if self.__doc__ else ""
        text = message or default
        if context and message is None:
            details = ", ".join(f"{k}={v}" for k, v in context.items())
            text = f"{text} ({details})"
        super().__init__(text)


class NonRetryable(Exception):
    """Raise from a handler (or subclass) to fail the task without any further attempt."""


class DatabaseError(PgflowError):
    """The database rejected a statement."""


class DatabaseUnavailable(DatabaseError):
    """The database cannot be reached."""


class CoreMissing(DatabaseError):
    """The pgflow core is not installed in this database (run `pgflow install`)."""


class FlowNotFound(PgflowError):
    """No flow with this slug exists in the database."""


class RunNotFound(PgflowError):
    """No run with this id exists."""


class InvalidInput(PgflowError):
    """The run input is not JSON, nests too deeply, or does not satisfy the flow's input_schema."""


class StartupError(PgflowError):
    """The worker cannot start."""


class HandlerImportErrors(StartupError):
    """Some handlers cannot be imported."""


class ShapeMismatch(StartupError):
    """The database holds a different shape for a flow."""


class WaitTimeout(PgflowError):
    """The run did not finish in time."""


class TaskTimeout(Exception):
    """The handler ran past its step's timeout."""


class OutputNotJson(Exception):
    """The handler returned a value that is not JSON."""


class NestedTooDeep(OutputNotJson):
    """The value nests more lists and objects than allowed."""


class InputNotDecodable(Exception):
    """The task input could not be decoded (nested too deeply, or a number Python refuses)."""
