"""The README and the docs stay true: quick start first, real commands, links that resolve."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pgflow_yaml.cli import app

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text(encoding="utf-8")
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def code_blocks(markdown: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", markdown, flags=re.S)


def pgflow_commands(markdown: str) -> list[list[str]]:
    """Return the words naming a command of every ``pgflow ...`` line in shell blocks."""
    commands = []
    for block in code_blocks(markdown, "sh"):
        for line in block.splitlines():
            words = shlex.split(line.split("#", 1)[0].rstrip(" &"))
            if words[:1] == ["pgflow"]:
                names = [w for w in words[1:3] if re.fullmatch(r"[a-z][a-z-]*", w)]
                commands.append(names[:2] if names[:1] == ["db"] else names[:1])
    return commands


def test_quick_start_is_the_first_section_with_the_two_commands() -> None:
    sections = re.findall(r"^## (.+)$", README, flags=re.M)
    assert sections[0] == "Quick start"
    quick_start = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = [
        line.split("#", 1)[0].strip()
        for block in code_blocks(quick_start, "sh")
        for line in block.splitlines()
        if line.strip()
    ]
    assert commands == ["python3 dev.py demo", "python3 dev.py test"]


@pytest.mark.parametrize("words", pgflow_commands(README), ids=" ".join)
def test_every_command_in_the_readme_exists(words: list[str]) -> None:
    result = CliRunner().invoke(app, [*words, "--help"])
    assert result.exit_code == 0, result.output


def test_the_readme_shows_commands() -> None:
    assert len(pgflow_commands(README)) >= 5


@pytest.mark.parametrize("page", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_resolve(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    missing = [t for t in targets if "://" not in t and not (page.parent / t).exists()]
    assert missing == []
