"""A Markdown table for the benchmarks' result files: one header row, then one row per list of cells."""

from __future__ import annotations

from collections.abc import Sequence


def table(rows: Sequence[Sequence[str]], head: Sequence[str]) -> list[str]:
    """The lines of a Markdown table; a ``|`` inside a cell is escaped so it cannot split the cell."""
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    return [line(head), "|" + "---|" * len(head), *(line(r) for r in rows)]
