"""Plain text for the terminal, shared by commands: aligned tables and the `--from`/`--to`
argument type. Light on purpose: a command that only formats loads no store for it."""

import argparse
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any


def table(head: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Columns aligned: text to the left, numbers (and figures like 12.5%) to the right."""
    if not rows:
        return "(none)"
    cells = [[str(c) for c in head], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(head))]
    numeric = [all(_numeric(row[i]) for row in cells[1:]) for i in range(len(head))]
    lines = []
    for row in cells:
        line = "  ".join(
            cell.rjust(w) if right else cell.ljust(w)
            for cell, w, right in zip(row, widths, numeric, strict=True)
        )
        lines.append(line.rstrip())
    return "\n".join(lines)


def _numeric(text: str) -> bool:
    stripped = text.replace(",", "").replace("%", "").replace(" - ", "").replace(".", "")
    return text == "-" or stripped.lstrip("-").isdigit()


def instant(text: str) -> datetime:
    """`--from`/`--to` of every command: a UTC date or ISO 8601 instant."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date (YYYY-MM-DD) or instant"
        ) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
