"""Resolving handler paths: form always, import and signature with --check-handlers."""

from __future__ import annotations

import itertools
import textwrap
from pathlib import Path

import pytest

from pgflow_yaml.handlers import (
    HandlerImportError,
    handler_form_problem,
    import_handler,
    split_handler_path,
    takes_context,
)
from pgflow_yaml.validate import validate_paths

_ids = itertools.count()

MODULE = textwrap.dedent(
    """
    import functools

    def one(input):
        return input

    def two(input, ctx):
        return input

    async def async_one(input):
        return input

    def with_default(input, ctx=None, extra=None):
        return input

    def star(*args):
        return args

    def none():
        return 1

    def three(a, b, c):
        return a

    def kw_only(input, *, ctx):
        return input

    class Steps:
        @staticmethod
        def run(input):
            return input

    partial = functools.partial(three, 1, 2)
    value = 42
    """
)


@pytest.fixture
def module(tmp_path: Path) -> tuple[str, Path]:
    """Write a module with a unique name into a fresh folder; return (name, folder)."""
    name = f"pgf_handlers_{next(_ids)}_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(MODULE)
    return name, tmp_path


@pytest.mark.parametrize(
    ("path", "parts"),
    [
        ("pkg.mod:attr", ("pkg.mod", "attr")),
        ("pkg.mod.attr", ("pkg.mod", "attr")),
        ("mod:Class.method", ("mod", "Class.method")),
        ("a.b.c.d", ("a.b.c", "d")),
    ],
)
def test_split_forms(path: str, parts: tuple[str, str]) -> None:
    assert split_handler_path(path) == parts


@pytest.mark.parametrize(
    "path",
    ["", "mod", "mod:", ":attr", "a:b:c", "my-mod:f", "pkg.class:f", "a..b", "a b.c", "1a.b"],
)
def test_malformed_paths(path: str) -> None:
    problem = handler_form_problem(path)
    assert problem is not None and problem.code == "PGF401"


@pytest.mark.parametrize(
    ("attr", "context"),
    [
        ("one", False),
        ("two", True),
        ("async_one", False),
        ("with_default", True),
        ("star", True),
        ("Steps.run", False),
        ("partial", False),
    ],
)
def test_good_handlers(module: tuple[str, Path], attr: str, context: bool) -> None:
    name, folder = module
    func = import_handler(f"{name}:{attr}", [folder])
    assert callable(func)
    assert takes_context(func) is context


def test_dotted_form_imports_too(module: tuple[str, Path]) -> None:
    name, folder = module
    assert import_handler(f"{name}.one", [folder])(5) == 5


@pytest.mark.parametrize(
    ("attr", "code", "words"),
    [
        ("none", "PGF406", "one or two"),
        ("three", "PGF406", "3 positional"),
        ("kw_only", "PGF406", "keyword-only"),
        ("value", "PGF405", "type int"),
        ("onee", "PGF404", 'has no attribute "onee"'),
        ("Steps.walk", "PGF404", 'has no attribute "walk"'),
    ],
)
def test_bad_handlers(module: tuple[str, Path], attr: str, code: str, words: str) -> None:
    name, folder = module
    with pytest.raises(HandlerImportError) as info:
        import_handler(f"{name}:{attr}", [folder])
    assert info.value.code == code
    assert words in str(info.value)


def test_missing_attribute_suggests_a_name(module: tuple[str, Path]) -> None:
    name, folder = module
    with pytest.raises(HandlerImportError) as info:
        import_handler(f"{name}:async_on", [folder])
    assert info.value.hint == 'did you mean "async_one"?'


def test_missing_module(tmp_path: Path) -> None:
    with pytest.raises(HandlerImportError) as info:
        import_handler("pgf_surely_missing_module.sub:f", [tmp_path])
    assert info.value.code == "PGF402"
    assert '"pgf_surely_missing_module"' in str(info.value)


def test_module_raising_on_import(tmp_path: Path) -> None:
    name = f"pgf_broken_{next(_ids)}"
    (tmp_path / f"{name}.py").write_text("raise RuntimeError('boom')\n")
    with pytest.raises(HandlerImportError) as info:
        import_handler(f"{name}:f", [tmp_path])
    assert info.value.code == "PGF403"
    assert "RuntimeError: boom" in str(info.value)


def test_module_with_a_missing_import(tmp_path: Path) -> None:
    name = f"pgf_needs_{next(_ids)}"
    (tmp_path / f"{name}.py").write_text("import pgf_not_installed_anywhere\n")
    with pytest.raises(HandlerImportError) as info:
        import_handler(f"{name}:f", [tmp_path])
    assert info.value.code == "PGF403"


def test_module_calling_sys_exit(tmp_path: Path) -> None:
    name = f"pgf_exits_{next(_ids)}"
    (tmp_path / f"{name}.py").write_text("import sys\nsys.exit(3)\n")
    with pytest.raises(HandlerImportError) as info:
        import_handler(f"{name}:f", [tmp_path])
    assert info.value.code == "PGF403"


def test_check_handlers_reports_every_bad_handler_positioned(tmp_path: Path) -> None:
    name = f"pgf_flow_handlers_{next(_ids)}"
    (tmp_path / f"{name}.py").write_text("def ok(input):\n    return 1\n")
    flow = tmp_path / "flow.yaml"
    flow.write_text(
        "slug: handlers\nsteps:\n"
        f"  - slug: a\n    handler: {name}:ok\n"
        f"  - slug: b\n    handler: {name}:missing\n"
        "  - slug: c\n    handler: pgf_nowhere.mod:f\n"
    )
    assert validate_paths([flow]).ok
    report = validate_paths([flow], check_handlers=True)
    assert [(d.code, d.line, d.col) for d in report.diagnostics] == [
        ("PGF404", 6, 14),
        ("PGF402", 8, 14),
    ]
    assert report.exit_code == 1


def _missing(path: str, folder: Path) -> HandlerImportError:
    with pytest.raises(HandlerImportError) as info:
        import_handler(path, [folder])
    assert info.value.code == "PGF402"
    return info.value


def test_missing_module_names_the_folders_searched_and_the_way_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    (project / "pkg").mkdir(parents=True)
    name = f"pgf_hint_{next(_ids)}"
    (project / "pkg" / f"{name}.py").write_text("def f(input):\n    return input\n")
    (project / f"{name}_top.py").write_text("def f(input):\n    return input\n")
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")

    in_sub = _missing(f"{name}:f", project)
    assert str(in_sub) == (
        f'handler "{name}:f": no module named "{name}" (searched {project}, {tmp_path / "cwd"}, '
        "then PYTHONPATH and the installed packages)"
    )
    assert in_sub.hint == f'did you mean "pkg.{name}:f"? ("{name}" is in {project / "pkg"})'
    assert _missing(f"{name}_tpo:f", project).hint == f'did you mean "{name}_top"?'
    assert _missing(f"pkg.{name}x:f", project).hint == f'did you mean "pkg.{name}"?'
    assert _missing("pkg.zzz_unrelated:f", project).hint == (
        'check the spelling: package "pkg" has no module "zzz_unrelated"'
    )
    other = tmp_path / "other"
    (other / "flows").mkdir(parents=True)
    (other / f"{name}_up.py").write_text("def f(input):\n    return input\n")
    assert _missing(f"{name}_up:f", other / "flows").hint == (
        f'"{name}_up" is in {other}: run from that folder, or add it to PYTHONPATH'
    )
    assert _missing("zzz_nowhere_at_all:f", other / "flows").hint == (
        "run from the folder that holds the module (or its package), "
        "or add that folder to PYTHONPATH"
    )
