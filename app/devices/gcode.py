"""G-code text helpers shared by the serial drivers and emulators (no I/O beyond reading a file)."""

from __future__ import annotations

import re
from pathlib import Path

from app.core.domain.errors import ValidationError

_PAREN_COMMENT = re.compile(r"\([^)]*\)")


def clean_line(raw: str) -> str:
    """One command as a machine should receive it: comments and surrounding blanks removed."""
    line = raw.split(";", 1)[0]
    if "(" in line:
        line = _PAREN_COMMENT.sub("", line)
    return line.strip()


def program_from_lines(lines: list[str]) -> tuple[list[str], list[int]]:
    """The commands of a program and, for each, its line number in the text (1-based): comments and blank
    lines are not sent, so the two differ and operators look for the file's number."""
    cmds: list[str] = []
    numbers: list[int] = []
    for no, raw in enumerate(lines, start=1):
        cmd = clean_line(raw)
        if cmd and cmd != "%":  # '%' marks program start/end in CNC files, not a command
            cmds.append(cmd)
            numbers.append(no)
    return cmds, numbers


def commands_from_lines(lines: list[str]) -> list[str]:
    return program_from_lines(lines)[0]


def load_program(path: Path) -> tuple[list[str], list[int]]:
    """Every command of a G-code file in order, with its file line number. Raises an operator-facing error for
    unreadable or empty files."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise ValidationError(f"cannot read G-code file {path}: {exc.strerror or exc}", "file") from exc
    cmds, numbers = program_from_lines(text.splitlines())
    if not cmds:
        raise ValidationError(f"{path.name} holds no G-code commands", "file")
    return cmds, numbers


def load_commands(path: Path) -> list[str]:
    """Every command of a G-code file, in order."""
    return load_program(path)[0]


def xor_checksum(data: bytes) -> int:
    cs = 0
    for b in data:
        cs ^= b
    return cs & 0xFF


def numbered(line_no: int, cmd: str) -> bytes:
    """``N<n> <cmd>*<checksum>`` as Marlin expects it with line numbers."""
    body = f"N{line_no} {cmd}".encode("ascii", errors="replace")
    return body + b"*" + str(xor_checksum(body)).encode() + b"\n"
