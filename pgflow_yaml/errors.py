"""Every exception pgflow-yaml raises on purpose, under one root: ``PgflowError``.

Each class carries its default message in its docstring (its first line, a template filled
from the keyword arguments) and the exit status of the ``pgflow`` command it ends, so raise
sites stay short and the command line has one error boundary (``pgflow_yaml.cli``)::

    raise RunNotFound(run_id=run_id)  # "no run <run_id>", exit status 1
    raise CoreNotInstalled("no pgflow.start_flow in database \\"app\\"; run `pgflow install`")

Exit status: 2 for misuse and for an environment that cannot be used (no server, a refused
login, an embedded server that cannot start), 3 for a wait that no worker can end
(``NoWorker``), 1 for everything else: an invalid flow, a refused install, a run or flow that
does not exist, a failed run.

This module imports nothing beyond the standard library: the definition layer raises its
errors without loading a database driver. Driver errors become these exceptions in one
place, ``pgflow_yaml.db.translate``.
"""

from __future__ import annotations

import string
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from pgflow_yaml.client import Run
    from pgflow_yaml.validate import ValidationReport


class PgflowError(Exception):
    """a pgflow-yaml error"""

    exit_code: ClassVar[int] = 1

    def __init__(self, message: str | None = None, /, **context: Any) -> None:
        self.context = context
        super().__init__(message if message is not None else self._default(context))

    @classmethod
    def _default(cls, context: dict[str, Any]) -> str:
        """Fill the docstring's first line with ``context``; unnamed values follow in brackets."""
        lines = (cls.__doc__ or "").strip().splitlines()
        template = lines[0] if lines else cls.__name__
        names = {field for _, field, _, _ in string.Formatter().parse(template) if field}
        try:
            text = template.format(**context) if names else template
        except (KeyError, IndexError, ValueError):
            text, names = template, set()
        rest = {k: v for k, v in context.items() if k not in names}
        if rest:
            text += " (" + ", ".join(f"{k}={v}" for k, v in rest.items()) + ")"
        return text


def one_line(message: str) -> str:
    """Return ``message`` with a heading and its only item joined: "X:\n  item" -> "X: item".

    A message listing several problems (or holding a source excerpt) keeps its lines.
    """
    lines = message.splitlines()
    if len(lines) == 2 and lines[0].endswith(":") and lines[1].strip():
        return f"{lines[0]} {lines[1].strip()}"
    return message


class UsageError(PgflowError, ValueError):
    """the command was used wrongly (or a function called with a value it does not accept)"""

    exit_code = 2


class FileError(PgflowError):
    """a file cannot be read or written"""

    exit_code = 2


# -- flow files ------------------------------------------------------------------------------
class DefinitionError(PgflowError):
    """a flow file cannot be used"""


class FlowValidationError(DefinitionError):
    """some flow files are invalid; ``report`` holds every diagnostic"""

    def __init__(self, report: ValidationReport) -> None:
        super().__init__(report.render("text").rstrip())
        self.report = report


class CompileError(DefinitionError, ValueError):
    """a flow cannot be written as SQL"""

    exit_code = 2


class HandlerImportError(DefinitionError):
    """a handler path could not be turned into a usable callable

    Attributes:
        code: The diagnostic code (``PGF401``-``PGF406``) naming what went wrong.
        hint: What to do about it, when known.
    """

    def __init__(self, code: str, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.hint = hint


# -- the database ----------------------------------------------------------------------------
class DatabaseError(PgflowError):
    """the database rejected a statement"""


class DatabaseUnavailable(DatabaseError):
    """the database cannot be reached"""

    exit_code = 2


class ConnectError(DatabaseUnavailable):
    """cannot connect to the database"""


class EmbeddedServerError(DatabaseUnavailable):
    """the embedded PostgreSQL server could not be used"""


class EmbeddedServerNotRunning(EmbeddedServerError):
    """the embedded server in {data_dir} is not running; start it with `pgflow db start`"""

    exit_code = 1


class CoreNotInstalled(DatabaseError):
    """the pgflow core is not installed in this database (run `pgflow install`)

    Exit status 2, as every environment that cannot be used (no server, a refused login): the
    same for every command, ``compile --check`` included (whose 1 means drift).
    """

    exit_code = 2


class DriftCheckError(CoreNotInstalled):
    """the database cannot be checked (no pgflow-yaml core in it)"""


class InstallError(DatabaseError):
    """the database cannot be brought to this package's version of the core"""


class CoreVersionMismatch(InstallError):
    """the database holds another pgflow core than this package's"""


# -- the worker ------------------------------------------------------------------------------
class StartupError(PgflowError):
    """the worker cannot start"""


class HandlerImportErrors(StartupError):
    """some handlers cannot be imported"""


class ShapeMismatch(StartupError):
    """the database holds a different shape for a flow"""


# -- runs ------------------------------------------------------------------------------------
class RunError(PgflowError):
    """a run cannot be started, found or waited for"""


class FlowNotFound(RunError):
    """no flow {flow_slug!r} in the database (apply its migration first)"""


class FlowInUse(RunError):
    """flow {flow_slug!r} has {in_progress} run(s) in progress: cancel them, or use --force"""


class RunNotFound(RunError):
    """no run {run_id}"""


class RunExists(RunError):
    """a run with id {run_id} already exists"""


class ScheduleNotFound(RunError):
    """no schedule {schedule_name} of flow {flow_slug}"""


class InvalidInput(RunError):
    """the run input does not satisfy the flow's input_schema"""


class SignalRefused(RunError):
    """the signal was refused"""


class WaitTimeout(RunError, TimeoutError):
    """the run did not finish in time"""


class NoWorker(WaitTimeout):
    """no worker serves flow {flow_slug}; start one with `pgflow run-worker PATH`

    Raised instead of a plain ``WaitTimeout`` when, at the deadline, no live worker serves the
    run's flow (``pgflow.live_workers``): waiting longer would not help. Exit status 3, so a
    script tells it from a failed run and from a plain timeout (both 1).
    """

    exit_code = 3

    def __init__(self, flow_slug: str, waited: str | None = None) -> None:
        default = self._default({"flow_slug": flow_slug})
        super().__init__(f"{waited}: {default}" if waited else default)
        self.flow_slug = flow_slug


class RunNotFinished(RunError):
    """run {run_id} is still {status}: it has no result yet"""


class RunFailed(RunError):
    """run {run_id} failed

    Raised by ``Run.result()`` and ``Client.result()``. Attributes:
        run: the failed run (a ``pgflow_yaml.client.Run``).
        error: why it failed (``run.error``, a ``pgflow_yaml.client.StepError``; ``None`` for
            a run that an older core failed without saying which step).
    """

    def __init__(self, run: Run) -> None:
        error = run.error
        message = f"run {run.run_id} failed" + (f" at {error.describe()}" if error else "")
        super().__init__(message)
        self.run = run
        self.error = error


class RunCancelled(RunError):
    """run {run_id} was cancelled

    Raised by ``Run.result()`` and ``Client.result()`` for a cancelled run: a cancel is a
    decision, not a failure, so it is not a ``RunFailed``; catch ``RunError`` for both.
    Attributes: ``run``, the cancelled run (``run.cancelled_at`` says when).
    """

    def __init__(self, run: Run) -> None:
        super().__init__(run_id=run.run_id)
        self.run = run


# -- handler outcomes (recorded on the task, never shown by the command line) -----------------
class NonRetryable(Exception):
    """Raise from a handler (or subclass) to fail the task without any further attempt."""


class TaskTimeout(PgflowError):
    """the handler ran past its step's timeout"""


class OutputNotJson(PgflowError):
    """the handler returned a value that is not JSON"""


class NestedTooDeep(OutputNotJson):
    """the value nests more lists and objects than allowed"""


class InputNotDecodable(PgflowError):
    """the task input could not be decoded (nested too deeply, or a number Python refuses)"""


# Older names, kept so that existing imports keep working.
CoreMissing = CoreNotInstalled

__all__ = [
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
]
