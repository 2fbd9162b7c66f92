"""How the plan-shaped commands (plan, apply, promote) show a plan: one choice of renderer, one place."""

from __future__ import annotations

import enum
from collections.abc import Iterable

from rich.text import Text

from controller.cli._output import Output
from controller.diagnostics import Diagnostic
from controller.plan import Plan, plan_to_json_data, render_markdown, render_text

__all__ = ["PlanFormat", "show_diagnostics", "show_plan"]


class PlanFormat(enum.StrEnum):
    TEXT = "text"
    JSON = "json"
    MARKDOWN = "markdown"


def show_plan(out: Output, plan: Plan, fmt: PlanFormat = PlanFormat.TEXT) -> None:
    """Print ``plan`` on stdout in ``fmt`` (text is coloured only on a terminal)."""
    if fmt is PlanFormat.JSON:
        out.json(plan_to_json_data(plan))
    elif fmt is PlanFormat.MARKDOWN:
        out.console.print(Text(render_markdown(plan)), end="")
    else:
        colour = out.console.is_terminal
        rendered = render_text(plan, colour=colour)
        out.print(Text.from_ansi(rendered) if colour else Text(rendered), end="")


def show_diagnostics(out: Output, diagnostics: Iterable[Diagnostic]) -> None:
    """Warnings from loading the files on stderr; informational notes only with --verbose."""
    for diagnostic in diagnostics:
        if diagnostic.severity == "warning":
            if not out.quiet:  # format() already says "warning:"; a path or message is not rich markup
                out.err.print(diagnostic.format(), markup=False)
        elif diagnostic.severity == "info" and out.verbose and not out.json_mode:
            out.err.print(diagnostic.format(), markup=False)
