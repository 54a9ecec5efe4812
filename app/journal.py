"""Logs to the systemd journal when Imewe runs as a service: stderr is then connected to the journal
(``JOURNAL_STREAM`` names that stream), so a stderr handler whose lines start with the syslog priority
(``<3>``) reaches it with the right level, with no new dependency. Elsewhere nothing changes: the log file only."""

from __future__ import annotations

import logging
import os
import sys

# logging level -> syslog priority (sd-daemon(3): "<N>" at the start of a line sets it)
_PRIORITY = ((logging.CRITICAL, 2), (logging.ERROR, 3), (logging.WARNING, 4), (logging.INFO, 6))


class JournalFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        prio = next((p for level, p in _PRIORITY if record.levelno >= level), 7)
        # one journal entry per line: a traceback's lines each carry the priority
        return "\n".join(f"<{prio}>{line}" for line in super().format(record).splitlines())


def stderr_is_journal(env: dict[str, str] | None = None, fd: int = 2) -> bool:
    """True when ``fd`` is the journal stream systemd gave this service (the device:inode in JOURNAL_STREAM)."""
    value = (os.environ if env is None else env).get("JOURNAL_STREAM", "")
    try:
        dev, ino = (int(x) for x in value.split(":"))
        st = os.fstat(fd)
    except (ValueError, OSError):
        return False
    return (st.st_dev, st.st_ino) == (dev, ino)


def journal_handler() -> logging.Handler | None:
    """A handler for the journal when stderr is the journal, else None."""
    if not stderr_is_journal():
        return None
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JournalFormatter("%(name)s: %(message)s"))  # the journal stamps the time itself
    return handler
