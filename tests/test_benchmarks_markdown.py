"""The benchmark scripts write their Markdown tables with one shared helper, not each with its own copy."""

import ast
from pathlib import Path

from benchmarks.markdown_table import table

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def test_table_has_a_header_a_rule_and_one_line_per_row() -> None:
    lines = table([["ours", "1.5"], ["farm queue", "a|b"]], ["plan", "hours"])
    assert lines == ["| plan | hours |", "|---|---|", "| ours | 1.5 |", "| farm queue | a\\|b |"]


def test_no_benchmark_script_keeps_its_own_table_function() -> None:
    own = []
    for script in sorted(BENCHMARKS.glob("*.py")):
        if script.name == "markdown_table.py":
            continue
        tree = ast.parse(script.read_text(encoding="utf-8"))
        own += [f"{script.name}:{node.lineno}" for node in tree.body
                if isinstance(node, ast.FunctionDef) and node.name == "table"]
    assert not own, f"use benchmarks/markdown_table.py instead of a copy: {own}"
