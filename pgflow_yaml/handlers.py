"""Resolve a step's handler path to a Python callable.

A handler path is ``package.module:attribute`` or ``package.module.attribute`` (the attribute
after a colon may itself be dotted: ``pkg.mod:Class.method``). It is imported with the flow
file's folder and the current directory on ``sys.path``; the result must be a callable taking
the step input and, optionally, a context: one or two positional parameters (``async def``
allowed). The validator uses this with ``--check-handlers``; the worker imports its handlers
with it at start.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import keyword
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pgflow_yaml.errors import HandlerImportError as HandlerImportError
from pgflow_yaml.schema import did_you_mean


def _identifier(part: str) -> bool:
    return part.isidentifier() and not keyword.iskeyword(part)


def split_handler_path(path: str) -> tuple[str, str]:
    """Split a handler path into ``(module, attribute)``.

    Raises:
        HandlerImportError: (``PGF401``) the path has neither form.
    """
    if ":" in path:
        module, _, attr = path.partition(":")
    else:
        module, _, attr = path.rpartition(".")
    parts = [*module.split("."), *attr.split(".")]
    if not module or not attr or path.count(":") > 1 or not all(map(_identifier, parts)):
        raise HandlerImportError(
            "PGF401",
            f'handler "{path}" is not a Python import path',
            'write "package.module:function" or "package.module.function"',
        )
    return module, attr


def handler_form_problem(path: str) -> HandlerImportError | None:
    """Return the error for a malformed handler path, or ``None`` when its form is right."""
    try:
        split_handler_path(path)
    except HandlerImportError as exc:
        return exc
    return None


def positional_arity(func: Callable[..., Any]) -> tuple[int, int] | None:
    """Return ``(required, accepted)`` positional parameter counts, or None if unknowable.

    ``accepted`` is 2 when a function takes ``*args`` (it then takes any number).
    """
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        return None
    required = accepted = 0
    for param in signature.parameters.values():
        if param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
            accepted += 1
            if param.default is param.empty:
                required += 1
        elif param.kind is param.VAR_POSITIONAL:
            accepted = max(accepted, 2)
        elif param.kind is param.KEYWORD_ONLY and param.default is param.empty:
            return (required, -1)
    return required, accepted


def takes_context(func: Callable[..., Any]) -> bool:
    """Return True when the handler should be called as ``func(input, ctx)``."""
    arity = positional_arity(func)
    return arity is not None and arity[1] >= 2


def _unique(folders: list[Path]) -> list[Path]:
    return list(dict.fromkeys(folders))


def _modules_in(folder: Path) -> list[str]:
    """Return the names importable from ``folder``: its ``*.py`` files and folders of them."""
    try:
        entries = list(folder.iterdir())
    except OSError:
        return []
    names = [e.stem for e in entries if e.suffix == ".py" and e.is_file()]
    names += [e.name for e in entries if e.is_dir() and any(e.glob("*.py"))]  # namespace too
    return sorted(n for n in names if n.isidentifier())


def _closest(word: str, choices: list[str]) -> str | None:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return close[0] if close else None


def _module_hint(path: str, missing: str, folders: list[Path]) -> str:
    """Say where a missing handler module may be: a close name, a sub-folder, a parent folder."""
    parent, _, name = missing.rpartition(".")
    if parent:  # a submodule of a package: its siblings
        siblings = [m for f in folders for m in _modules_in(f.joinpath(*parent.split(".")))]
        close = _closest(name, siblings)
        if close:
            return f'did you mean "{parent}.{close}"?'
        return f'check the spelling: package "{parent}" has no module "{name}"'
    for folder in folders:
        subs = sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
        for sub in subs:
            if sub.name.isidentifier() and name in _modules_in(sub):
                return f'did you mean "{sub.name}.{path}"? ("{name}" is in {sub})'
    for folder in folders:
        close = _closest(name, _modules_in(folder))
        if close:
            return f'did you mean "{close}"?'
    for folder in folders:
        for above in folder.parents:
            if name in _modules_in(above):
                return f'"{name}" is in {above}: run from that folder, or add it to PYTHONPATH'
    return (
        "run from the folder that holds the module (or its package), "
        "or add that folder to PYTHONPATH"
    )


def import_handler(path: str, search_paths: Sequence[str | Path] = ()) -> Callable[..., Any]:
    """Import a handler and check that it can be called with the step input (and a context).

    Args:
        path: ``pkg.mod:attr`` or ``pkg.mod.attr``.
        search_paths: Folders put at the front of ``sys.path`` (and left there, so that a
            handler's own lazy imports keep working), typically the flow file's folder; the
            current directory is always added.

    Returns:
        The callable.

    Raises:
        HandlerImportError: The path is malformed (``PGF401``), its module cannot be found
            (``PGF402``), importing it raised (``PGF403``), the attribute is missing
            (``PGF404``), it is not callable (``PGF405``) or takes the wrong parameters
            (``PGF406``).
    """
    module_name, attr = split_handler_path(path)
    for folder in [*reversed([str(p) for p in search_paths]), str(Path.cwd())]:
        if folder not in sys.path:
            sys.path.insert(0, folder)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or module_name
        if module_name == missing or module_name.startswith(missing + "."):
            folders = _unique([*[Path(p).resolve() for p in search_paths], Path.cwd().resolve()])
            raise HandlerImportError(
                "PGF402",
                f'handler "{path}": no module named "{missing}" (searched '
                + ", ".join(str(f) for f in folders)
                + ", then PYTHONPATH and the installed packages)",
                _module_hint(path, missing, folders),
            ) from None
        raise HandlerImportError(
            "PGF403",
            f'handler "{path}": importing "{module_name}" failed: {exc}',
            "a module imported by the handler's module is missing",
        ) from None
    except (Exception, SystemExit) as exc:
        raise HandlerImportError(
            "PGF403",
            f'handler "{path}": importing "{module_name}" raised {type(exc).__name__}: {exc}',
            "fix the module so that it imports cleanly",
        ) from None
    target: Any = module
    walked = module_name
    for part in attr.split("."):
        if not hasattr(target, part):
            names = [n for n in dir(target) if not n.startswith("_")]
            raise HandlerImportError(
                "PGF404",
                f'handler "{path}": "{walked}" has no attribute "{part}"',
                did_you_mean(part, names),
            )
        target = getattr(target, part)
        walked += f".{part}"
    if not callable(target):
        raise HandlerImportError(
            "PGF405",
            f'handler "{path}" is not callable (a value of type {type(target).__name__})',
            "point the handler at a function",
        )
    arity = positional_arity(target)
    if arity is not None:
        required, accepted = arity
        if accepted == -1:
            raise HandlerImportError(
                "PGF406",
                f'handler "{path}" has a required keyword-only parameter',
                "a handler is called as handler(input) or handler(input, ctx)",
            )
        if required > 2 or accepted < 1:
            raise HandlerImportError(
                "PGF406",
                f'handler "{path}" takes {required if required > 2 else accepted} positional '
                "parameters; a handler takes one or two",
                "define it as def step(input) or def step(input, ctx)",
            )
    return target  # type: ignore[no-any-return]
