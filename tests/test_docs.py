"""Every `idmctl ...` line the README and docs/ show is a command idmctl accepts: its verbs, options and arguments.

Each line is parsed by the real command tree (click's parser, nothing invoked), so a renamed option,
a dropped verb or a missing argument in a guide fails here. The README tour also runs for real, in
tests/e2e/test_readme_tour.py.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import typer.main

from controller.cli import app

REPO = Path(__file__).resolve().parent.parent
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def _command_lines() -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for page in PAGES:
        text = page.read_text("utf-8")
        for block in re.findall(r"```(?:sh|bash|yaml|ini)\n(.*?)```", text, re.S):
            joined = block.replace("\\\n", " ")
            for line in joined.splitlines():
                match = re.match(r"^\s*(?:(?:- )?run:\s*|\$ |ExecStart=\S*/|.*\$\()?idmctl (.*)$", line)
                if match:
                    found.append((f"{page.name}: {line.strip()}", match.group(1)))
    return found


LINES = _command_lines()


def test_the_docs_show_commands() -> None:
    assert len(LINES) > 40


@pytest.mark.parametrize(("where", "args"), LINES, ids=[w for w, _ in LINES])
def test_a_documented_command_parses(where: str, args: str) -> None:
    words = shlex.split(args, comments=True)
    for i, word in enumerate(words):  # the shell's part of the line: pipes, redirections, command lists
        if word in ("|", "||", "&&", ";", ">", ">>", "2>&1") or word.startswith((">", "2>", ")")):
            words = words[:i]
            break
    command = typer.main.get_command(app)
    ctx = command.make_context("idmctl", list(words), resilient_parsing=False)  # a usage error raises
    # Walk down the groups as click does, parsing each level's options and arguments (typer vendors click).
    while isinstance(command, typer.core.TyperGroup) and ctx._protected_args:
        name, *rest = [*ctx._protected_args, *ctx.args]
        sub = command.get_command(ctx, name)
        assert sub is not None, f"{where}: no command {name!r}"
        command, ctx = sub, sub.make_context(name, rest, parent=ctx, resilient_parsing=False)
    assert not isinstance(command, typer.core.TyperGroup) or command.invoke_without_command, \
        f"{where}: {command.name} needs a subcommand"
