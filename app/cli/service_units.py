"""systemd units for the site server (``imewe serve``) and node agents (``imewe node``), as a user or a system
service. The files the package ships in installer/systemd/ are these, for /usr/bin/imewe (a test keeps them
equal)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

KINDS = ("serve", "node")
PACKAGED_IMEWE = "/usr/bin/imewe"

_DESCRIPTION = {"serve": "Imewe site server (the site core with no window)",
                "node": "Imewe node agent (serves one machine to control rooms)"}


@dataclass(frozen=True, slots=True)
class Unit:
    name: str  # imewe-serve.service, imewe-node-mk4.service
    text: str


def unit_name(kind: str, instance: str = "") -> str:
    return f"imewe-{kind}{'-' + instance if instance else ''}.service"


def systemd_word(word: str) -> str:
    """One argument of ExecStart, quoted so systemd passes it unchanged (no %-specifiers, no $-variables)."""
    word = word.replace("%", "%%").replace("$", "$$")
    if word and not any(c in word for c in ' \t\n"\'\\;'):
        return word
    escaped = word.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{escaped}"'


def env_file(kind: str, user: bool) -> str:
    """Where a packaged unit reads its arguments (IMEWE_SERVE_ARGS, IMEWE_NODE_ARGS): %E is ~/.config."""
    return f"%E/imewe/{kind}.env" if user else f"/etc/imewe/{kind}.env"


def render_unit(kind: str, *, user: bool, imewe: Sequence[str] = (PACKAGED_IMEWE,), args: Sequence[str] = (),
                instance: str = "", packaged: bool = False) -> Unit:
    """The unit for ``imewe <kind> <args>``. A system unit runs as a dynamic user whose home is
    /var/lib/imewe (StateDirectory); a user unit runs as its user, with that user's home folder. A packaged unit
    (installer/systemd) takes its arguments from an environment file instead, which the admin writes."""
    if kind not in KINDS:
        raise ValueError(f"unknown service kind {kind!r}")
    command = " ".join(systemd_word(w) for w in (*imewe, kind, *args))
    if packaged:  # $VAR unquoted: systemd splits it into words
        command += f" ${'IMEWE_' + kind.upper() + '_ARGS'}"
    lines = ["[Unit]", f"Description={_DESCRIPTION[kind]}"]
    if not user:
        lines += ["After=network-online.target", "Wants=network-online.target"]
    lines += ["", "[Service]", "Type=simple", f"ExecStart={command}",
              # SIGTERM is a clean stop: the site's lock is released and nothing is left half-done
              "KillSignal=SIGTERM", "TimeoutStopSec=30", "Restart=on-failure", "RestartSec=5",
              "Environment=PYTHONUNBUFFERED=1"]
    if packaged:
        lines.append(f"EnvironmentFile=-{env_file(kind, user)}")
    if not user:
        lines += ["DynamicUser=yes", "StateDirectory=imewe", "Environment=IMEWE_HOME=%S/imewe"]
        if kind == "node":
            lines.append("SupplementaryGroups=dialout")  # the machine's serial port
    lines += ["", "[Install]", f"WantedBy={'default.target' if user else 'multi-user.target'}", ""]
    return Unit(unit_name(kind, instance), "\n".join(lines))


def packaged_units() -> dict[str, str]:
    """installer/systemd/<system|user>/<unit>: what the package ships (installed, not enabled)."""
    return {f"{'user' if user else 'system'}/{unit.name}": unit.text
            for user in (False, True) for kind in KINDS
            for unit in (render_unit(kind, user=user, packaged=True),)}


def default_unit_dir(user: bool) -> Path:
    return Path.home() / ".config/systemd/user" if user else Path("/etc/systemd/system")
