"""The ``imewe`` command. Each ``app/cli/cmd_*.py`` module adds its subcommands through ``register``.

Errors reach the operator as one clear line on stderr and a non-zero exit code, never a traceback;
unexpected failures are logged in full to the log file under IMEWE_HOME.
"""

from __future__ import annotations

import sys

try:  # Ctrl-C while Python is still loading the command: one line too, not a traceback
    import argparse
    import gc
    import logging
    from collections.abc import Sequence
    from typing import NoReturn

    from app import __version__
except KeyboardInterrupt:
    sys.stderr.write("imewe: interrupted\n")
    raise SystemExit(130) from None

log = logging.getLogger(__name__)

EXIT_ERROR = 2
EXIT_INTERNAL = 70


class Parser(argparse.ArgumentParser):
    """Usage errors are one line too, with a pointer to the help."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_ERROR, f"imewe: {message} (see: {self.prog} --help)\n")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole parser. Only ``command``'s module is imported (every other command is listed by name and help
    from the light registry), so ``imewe --help`` and light commands start fast; ``None``: none is imported."""
    parser = Parser(prog="imewe", description="Imewe: control room for fabrication fleets.")
    parser.add_argument("--version", action="version", version=f"imewe {__version__}")
    parser.add_argument("--home", help="folder for everything Imewe keeps (default: IMEWE_HOME or the user data dir)")
    parser.add_argument("--db", help="database URL (default: IMEWE_DB_URL or a SQLite file in the home folder)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("-v", "--verbose", action="store_true", help="log to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    from app.cli.registry import add_commands

    add_commands(sub, command)
    return parser


def run() -> NoReturn:
    """The program's entry point (the ``imewe`` script, ``python -m app``, the bundle): ``main``, then the exit
    without the interpreter's last garbage collections over every module loaded (SQLAlchemy alone: about 0.13 s
    of CPU; issue 17). atexit handlers, the log's flush and reference-counted clean-up still run. Tests and other
    long-lived callers use ``main``."""
    code = main()
    gc.freeze()
    sys.exit(code)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:  # Ctrl-C while the commands load or the arguments are read: one line too
        print("imewe: interrupted", file=sys.stderr)
        return 130


def _main(argv: Sequence[str] | None) -> int:
    from app.cli.registry import command_word

    words = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(command_word(words))
    args = parser.parse_args(words)
    if args.verbose:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    handler = getattr(args, "handler", None)
    if handler is None:
        # No subcommand: open the control room on the local site.
        if "open" in _commands(parser):
            args = build_parser("open").parse_args([*words, "open"])
        handler = getattr(args, "handler", None)
        if handler is None:
            parser.print_help()
            return 0
    from app.cli.cmd_config import warn_on_start
    from app.core.domain.errors import ImeweError  # after the arguments: --help does not load the domain

    warn_on_start(args)
    try:
        return int(handler(args) or 0)
    except ImeweError as exc:
        print(f"imewe: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("imewe: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # the last boundary: keep tracebacks out of the operator's face
        _log_to_file(args)
        log.exception("unexpected failure")
        where = _log_hint()
        print(f"imewe: internal error: {type(exc).__name__}: {exc}{where}", file=sys.stderr)
        return EXIT_INTERNAL


def _log_to_file(args: argparse.Namespace) -> None:
    """Commands that never opened the log (part info, schedule...) open it now, so the traceback goes to the file;
    without any handler, logging would print it on stderr."""
    root = logging.getLogger()
    if root.handlers:
        return
    try:
        from app.bootstrap import setup_logging
        from app.core.config import load_config

        setup_logging(load_config(getattr(args, "home", None), getattr(args, "db", None)))
    except Exception:  # noqa: BLE001 - a home we cannot write to: keep the traceback out of sight all the same
        root.addHandler(logging.NullHandler())


def _commands(parser: argparse.ArgumentParser) -> set[str]:
    for action in parser._actions:  # noqa: SLF001 - argparse has no public accessor
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            return set(action.choices)
    return set()


def _log_hint() -> str:
    for h in logging.getLogger().handlers:
        name = getattr(h, "baseFilename", None)
        if name:
            return f" (details in {name})"
    return ""


if __name__ == "__main__":
    run()
