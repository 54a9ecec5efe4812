"""imewe service install|remove serve|node: run the site server or a node agent as a systemd service.

``install`` writes the unit (with the arguments given after the kind) and enables and starts it; ``--dry-run``
only writes it (into ``--unit-dir``) and prints the systemctl commands it would run. Where systemd does not run,
it says so in one line and writes nothing."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from app.cli.service_units import KINDS, default_unit_dir, render_unit, unit_name
from app.core.domain.errors import ImeweError, ValidationError

SYSTEMCTL_TIMEOUT_S = 60.0
_INSTANCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("service", help="run the site server or a node agent as a systemd service")
    ss = p.add_subparsers(dest="service_cmd", metavar="ACTION", required=True)
    for name, help_ in (("install", "write the unit, enable and start it: imewe service install [options] KIND "
                                    "[ARGS for 'imewe KIND']"),
                        ("remove", "stop and disable the service and delete its unit")):
        x = ss.add_parser(name, help=help_)
        x.add_argument("--user", action="store_true", help="a user service (systemctl --user) instead of a system one")
        x.add_argument("--name", default="", help="a suffix for more than one (imewe-node-NAME.service)")
        x.add_argument("--unit-dir", type=Path, help="where the unit goes (default: /etc/systemd/system, or "
                                                     "~/.config/systemd/user with --user)")
        x.add_argument("--dry-run", action="store_true", help="run no systemctl: only write (or delete) the unit")
        if name == "install":
            # KIND and everything after it: the options above come first, then what 'imewe KIND' is given
            x.add_argument("command", nargs=argparse.REMAINDER, metavar="KIND [ARGS]",
                           help="serve or node, then its arguments (e.g. node --driver marlin --port /dev/ttyUSB0)")
        else:
            x.add_argument("kind", choices=KINDS, help="serve: the site server; node: a node agent")
        x.set_defaults(handler=install if name == "install" else remove)


def _imewe_command() -> list[str]:
    """How the service starts this same Imewe: the installed console script, else this interpreter."""
    script = shutil.which("imewe")
    if script:
        return [str(Path(script).resolve())]
    return [sys.executable, "-m", "app"]


def _check(args: argparse.Namespace) -> tuple[Path, str]:
    if args.name and not _INSTANCE.match(args.name):
        raise ValidationError(f"--name {args.name!r}: use letters, digits, '.', '_' or '-' (at most 64)", "name")
    unit_dir = args.unit_dir or default_unit_dir(args.user)
    if not args.dry_run:
        if shutil.which("systemctl") is None or not Path("/run/systemd/system").is_dir():
            raise ImeweError("systemd is not running on this machine, so there is no service to install; start "
                             f"'imewe {args.kind}' another way (or write the unit only: --dry-run --unit-dir DIR)")
        if not args.user and os.geteuid() != 0:
            raise ImeweError("a system service needs root (sudo imewe service ...), or use --user")
    return unit_dir, unit_name(args.kind, args.name)


def _systemctl(args: argparse.Namespace, *words: str) -> None:
    cmd = ["systemctl", *(["--user"] if args.user else []), *words]
    if args.dry_run:
        print("would run: " + " ".join(cmd))
        return
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=SYSTEMCTL_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ImeweError(f"{' '.join(cmd)} failed: {exc}") from exc
    if proc.returncode != 0:
        why = (proc.stderr or proc.stdout).strip().splitlines()
        raise ImeweError(f"{' '.join(cmd)} failed: {why[-1] if why else f'exit code {proc.returncode}'}")


def install(args: argparse.Namespace) -> int:
    words = list(args.command)
    if not words or words[0] not in KINDS:
        raise ValidationError(f"say which service first: {' or '.join(KINDS)} (imewe service install [--user] "
                              "[--dry-run] [--unit-dir DIR] [--name N] KIND [ARGS])", "kind")
    args.kind, extra = words[0], words[1:]
    unit_dir, name = _check(args)
    # the home given to this command is the service's too (a database URL is not written: it may hold a password;
    # the service reads it from IMEWE_DB_URL or the home's config.toml like any other command)
    imewe = [*_imewe_command(), *(["--home", str(Path(args.home).resolve())] if args.home else [])]
    unit = render_unit(args.kind, user=args.user, imewe=imewe, args=extra, instance=args.name)
    try:
        unit_dir.mkdir(parents=True, exist_ok=True)
        path = unit_dir / unit.name
        tmp = path.with_name(f".{unit.name}.tmp")
        tmp.write_text(unit.text, encoding="utf-8")
        tmp.chmod(0o644)
        os.replace(tmp, path)
    except OSError as exc:
        raise ImeweError(f"cannot write the unit into {unit_dir}: {exc.strerror or exc}") from exc
    print(f"wrote {path}")
    _systemctl(args, "daemon-reload")
    _systemctl(args, "enable", "--now", name)
    if not args.dry_run:
        where = "journalctl --user -u" if args.user else "journalctl -u"
        print(f"{name} is enabled and started; its log: {where} {name}")
    return 0


def remove(args: argparse.Namespace) -> int:
    unit_dir, name = _check(args)
    path = unit_dir / name
    if not path.exists():
        raise ValidationError(f"no unit {path}", "kind")
    _systemctl(args, "disable", "--now", name)
    path.unlink()
    _systemctl(args, "daemon-reload")
    print(f"removed {path}")
    return 0
