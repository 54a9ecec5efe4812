"""The light registry of ``imewe`` subcommands: each command's name and one-line help, without importing it.

``imewe --help`` lists the commands from this table alone, and a command line imports only the module of the
command it names (``app/cli/cmd_<name>.py``), so a light command does not pay for the window, the 3D view or
the optimiser. A ``cmd_*`` module missing from this table still works (it is imported on every start, the slow
way); tests/test_cli_startup.py fails until it is added here, with the help its ``register`` gives.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
from collections.abc import Sequence

# name -> the help its module's register() gives; the module is app.cli.cmd_<name> unless MODULES says otherwise.
COMMANDS: dict[str, str] = {
    "audit": "the audit log",
    "config": "check config.toml; list the known keys",
    "demo": "open the control room on a simulated site with jobs flowing",
    "energy": "site energy: sources, battery, cost and CO2, forecast",
    "gcode": "inspect G-code files (printers, CNC, lasers)",
    "apikeys": "API keys for other programs",
    "jobs": "jobs: submit, follow, reprioritise, cancel",
    "kernel": "platform status and metrics",
    "learn": "learned durations, energy and failure risk from the site's history",
    "login": "sign in; the CLI then acts as you (token in the home's keys/, 0600)",
    "logout": "forget the saved session",
    "market": "the marketplace between linked sites: offers, quotes, orders, ledger",
    "node": "run a node agent for one machine (serves it to control rooms)",
    "nodes": "machines: register, list, configure, maintain, decommission",
    "offload": "send a job (or some of its parts) to a linked site",
    "open": "open the control room on the local site (a part file: in Design review)",
    "part": "inspect part files (STL, OBJ, PLY, 3MF, GLB/GLTF)",
    "plan": "the site's current plan: operations, and planned power against the cap",
    "playbooks": "playbooks: multi-step recipes (JSON or TOML); run one to submit a job",
    "run": "stream a G-code file to a machine on a serial port",
    "schedule": "plan a flexible job shop file (.fjs, or a Birgin assembly .txt)",
    "serve": "run the site core with no window",
    "service": "run the site server or a node agent as a systemd service",
    "sites": "linked sites: this site's ID, pairing, link status",
    "telemetry": "export, import and prune telemetry",
    "templates": "parametric templates: add an OpenSCAD file, list, show, make a part",
    "users": "people and their roles",
    "whoami": "who the CLI acts as",
}
# Commands registered by a module of another name: command -> module suffix.
MODULES: dict[str, str] = {"login": "users", "logout": "users", "whoami": "users", "apikeys": "users"}


def module_of(name: str) -> str:
    return f"app.cli.cmd_{MODULES.get(name, name)}"

# Global options that take a value: the word after them is not the command.
_VALUED = ("--home", "--db")


def command_word(argv: Sequence[str]) -> str | None:
    """The subcommand a command line names (the first word that is neither an option nor an option's value)."""
    skip = False
    for word in argv:
        if skip:
            skip = False
            continue
        if word == "--":
            return None
        if word.startswith("-"):
            skip = word in _VALUED
            continue
        return word
    return None


def unlisted_modules() -> list[str]:
    """``cmd_*`` modules that are not in the table (found by file name: nothing is imported)."""
    import app.cli as cli_pkg

    listed = {module_of(name).rsplit(".", 1)[1] for name in COMMANDS}
    return sorted(info.name for info in pkgutil.iter_modules(cli_pkg.__path__)
                  if info.name.startswith("cmd_") and info.name not in listed)


def add_commands(sub: argparse._SubParsersAction, wanted: str | None) -> None:
    """Register the command ``wanted`` in full (its module imported) and every other one by name and help only,
    so ``--help`` and the 'invalid choice' error still list them all."""
    for module in unlisted_modules():  # not in the table yet: the slow, always-correct way
        importlib.import_module(f"app.cli.{module}").register(sub)
    if wanted in COMMANDS and wanted not in sub.choices:  # first: its module may register its siblings too
        importlib.import_module(module_of(wanted)).register(sub)
    for name in sorted(COMMANDS):
        if name not in sub.choices:
            sub.add_parser(name, help=COMMANDS[name], add_help=False)
