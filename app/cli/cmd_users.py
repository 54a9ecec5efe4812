"""imewe users ... / login / logout / whoami / apikeys ...: people, signing in, API keys.

These act on the store directly (people live in the database, which the owner reads on every request), so they
work the same whether or not a site process runs.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from app.bootstrap import StoreCore, user_service
from app.cli.output import add_json_flag, emit, table, when, with_core
from app.cli.session import TOKEN_ENV, cli_actor, forget_token, save_token, saved_token
from app.core.auth.permissions import Role
from app.core.auth.repo import ApiKey, User
from app.core.auth.service import UserService
from app.core.domain.errors import ValidationError

PASSWORD_ENV = "IMEWE_PASSWORD"


def register(sub: argparse._SubParsersAction) -> None:
    roles = ", ".join(r.value for r in Role)
    p = sub.add_parser("users", help="people and their roles")
    u = p.add_subparsers(dest="users_cmd", metavar="ACTION", required=True)
    ca = u.add_parser("create-admin", help="the first admin (only while the site has none)")
    ca.add_argument("name")
    _password_flag(ca)
    ca.set_defaults(handler=_run(_create_admin, need_actor=False))
    add = u.add_parser("add", help="add a person (admin)")
    add.add_argument("name")
    add.add_argument("--role", required=True, help=roles)
    _password_flag(add)
    add.set_defaults(handler=_run(_add))
    ls = u.add_parser("list", help="everyone, with role and state (admin)")
    add_json_flag(ls)
    ls.set_defaults(handler=_run(_list))
    sr = u.add_parser("set-role", help="change a person's role (admin); their sessions end")
    sr.add_argument("name")
    sr.add_argument("role", help=roles)
    sr.set_defaults(handler=_run(lambda a, c, s: _one(a, s.set_role(c, a.name, a.role), "role set")))
    for verb, active in (("disable", False), ("enable", True)):
        d = u.add_parser(verb, help=f"{verb} a person (admin)")
        d.add_argument("name")
        d.set_defaults(handler=_run(lambda a, c, s, on=active: _one(a, s.set_active(c, a.name, on),
                                                                       "enabled" if on else "disabled")))
    pw = u.add_parser("passwd", help="change your password, or (admin) anyone's")
    pw.add_argument("name", nargs="?", help="default: you")
    _password_flag(pw)
    pw.set_defaults(handler=_run(_passwd))
    un = u.add_parser("unlock", help="let a person locked by wrong passwords try again now (admin)")
    un.add_argument("name")
    un.set_defaults(handler=_run(_unlock))

    li = sub.add_parser("login", help="sign in; the CLI then acts as you (token in the home's keys/, 0600)")
    li.add_argument("name")
    li.add_argument("--hours", type=float, default=None, help="session length (default 12)")
    li.add_argument("--print-token", action="store_true", help=f"print the token (for {TOKEN_ENV}) instead of "
                                                               "keeping it in the home")
    _password_flag(li)
    li.set_defaults(handler=_login)
    lo = sub.add_parser("logout", help="forget the saved session")
    lo.set_defaults(handler=_logout)
    wh = sub.add_parser("whoami", help="who the CLI acts as")
    add_json_flag(wh)
    wh.set_defaults(handler=_run(_whoami))

    k = sub.add_parser("apikeys", help="API keys for other programs")
    ks = k.add_subparsers(dest="keys_cmd", metavar="ACTION", required=True)
    kc = ks.add_parser("create", help="a new key, shown once")
    kc.add_argument("name")
    kc.add_argument("--scopes", required=True, help="comma-separated actions from the permission table, "
                                                    "e.g. read,submit")
    kc.add_argument("--days", type=float, default=90.0, help="expires after this many days (default 90)")
    kc.add_argument("--user", help="whose key (admin; default: you)")
    add_json_flag(kc)
    kc.set_defaults(handler=_run(_key_create))
    kl = ks.add_parser("list", help="keys (yours; an admin sees all)")
    add_json_flag(kl)
    kl.set_defaults(handler=_run(_key_list))
    kr = ks.add_parser("revoke", help="revoke a key by its id or prefix")
    kr.add_argument("key")
    kr.set_defaults(handler=_run(_key_revoke))


def _password_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--password-stdin", action="store_true",
                   help=f"read the password from the first line of stdin (or set {PASSWORD_ENV})")


def read_password(args: argparse.Namespace, prompt: str = "password: ", confirm: bool = False) -> str:
    if getattr(args, "password_stdin", False):
        line = sys.stdin.readline()
        return line[:-1] if line.endswith("\n") else line
    env = os.environ.get(PASSWORD_ENV)
    if env:
        return env
    if not sys.stdin.isatty():
        raise ValidationError(f"no terminal to ask for the password: use --password-stdin or {PASSWORD_ENV}",
                              "password")
    first = getpass.getpass(prompt)
    if confirm and getpass.getpass("again: ") != first:
        raise ValidationError("the two passwords differ", "password")
    return first


Handler = Callable[[argparse.Namespace, Any, UserService], Awaitable[int | None]]


def _run(fn: Handler, need_actor: bool = True) -> Callable[[argparse.Namespace], int]:
    """Run ``fn`` on the store as the person the CLI acts as (``need_actor=False``: no one need be signed in)."""
    def handler(args: argparse.Namespace) -> int:
        async def go(core: StoreCore) -> int | None:
            users = user_service(core.config, core.store, core.clock)
            actor = await cli_actor(users, core.config.paths.home) if need_actor else None
            return await fn(args, actor, users)

        return with_core(args, go)

    return handler


def user_view(u: User) -> dict[str, Any]:
    return {"name": u.name, "role": u.role.value, "active": u.active, "failed_logins": u.failed_logins,
            "locked_until": u.locked_until, "last_login_at": u.last_login_at, "created_at": u.created_at}


def key_view(k: ApiKey) -> dict[str, Any]:
    return {"id": k.id, "name": k.name, "user": k.user_name, "prefix": k.prefix,
            "scopes": sorted(s.value for s in k.scopes), "created_at": k.created_at, "expires_at": k.expires_at,
            "revoked": k.revoked_at is not None, "last_used_at": k.last_used_at}


async def _one(args: argparse.Namespace, aw: Awaitable[User], verb: str) -> int:
    u = await aw
    emit(args, user_view(u), f"{u.name}: {verb} ({u.role.value}{'' if u.active else ', disabled'})")
    return 0


async def _create_admin(args, _actor, users: UserService) -> int:
    u = await users.create_admin(args.name, read_password(args, confirm=True))
    emit(args, user_view(u), f"admin {u.name} created; from now on people sign in: imewe login {u.name}")
    return 0


async def _add(args, actor, users: UserService) -> int:
    u = await users.add(actor, args.name, read_password(args, f"password for {args.name}: ", True), args.role)
    emit(args, user_view(u), f"added {u.name} ({u.role.value})")
    return 0


async def _list(args, actor, users: UserService) -> int:
    rows = [user_view(u) for u in await users.users(actor)]
    emit(args, rows, lambda rs: table([(r["name"], r["role"], "yes" if r["active"] else "disabled",
                                        r["failed_logins"], _t(r["last_login_at"])) for r in rs],
                                      ["name", "role", "active", "wrong pw", "last sign-in"]) if rs else "no users")
    return 0


async def _passwd(args, actor, users: UserService) -> int:
    name = args.name or actor.name
    old = None
    if name == actor.name and actor.kind == "user":
        old = read_password(args, "current password: ") if not args.password_stdin else sys.stdin.readline() \
            .rstrip("\n")
    await users.set_password(actor, name, read_password(args, "new password: ", True), old)
    emit(args, {"name": name}, f"password of {name} changed; their sessions ended")
    return 0


async def _unlock(args, actor, users: UserService) -> int:
    await users.unlock(actor, args.name)
    emit(args, {"name": args.name}, f"{args.name} may sign in again")
    return 0


async def _whoami(args, a, _users: UserService) -> int:
    local = {"local": ", the local operator: this site has no admin yet",
             "local-reader": ", not signed in: reading only; imewe login NAME"}.get(a.kind, "")
    emit(args, {"name": a.name, "role": a.role.value, "kind": a.kind}, f"{a.name} ({a.role.value}{local})")
    return 0


def _login(args: argparse.Namespace) -> int:
    password = read_password(args)

    async def go(core: StoreCore) -> int:
        users = user_service(core.config, core.store, core.clock)
        token, user = await users.login(args.name, password, None if args.hours is None else args.hours * 3600)
        if args.print_token:
            print(token)
            return 0
        path = save_token(core.config.paths.home, token)
        note = f" ({TOKEN_ENV} is set and wins over it)" if os.environ.get(TOKEN_ENV) else ""
        emit(args, {"name": user.name, "role": user.role.value, "token_file": str(path)},
             f"signed in as {user.name} ({user.role.value}); session kept in {path}{note}")
        return 0

    return with_core(args, go)


def _logout(args: argparse.Namespace) -> int:
    from app.core.config import load_config

    home = load_config(args.home, args.db).paths.home
    had = saved_token(home) is not None and forget_token(home)
    print("signed out" if had else "no saved session")
    return 0


async def _key_create(args, actor, users: UserService) -> int:
    if not 0 < args.days <= 3 * 366:
        raise ValidationError("--days is between 0 and 1098", "days")
    secret, k = await users.create_key(actor, args.name, args.scopes, args.days * 86400, args.user)
    emit(args, key_view(k) | {"key": secret},
         f"API key {k.name} for {k.user_name} ({', '.join(sorted(s.value for s in k.scopes))}), expires "
         f"{_t(k.expires_at)}:\n{secret}\nthis is the only time it is shown")
    return 0


async def _key_list(args, actor, users: UserService) -> int:
    rows = [key_view(k) for k in await users.keys(actor)]
    emit(args, rows, lambda rs: table([(r["id"][:8], r["name"], r["user"], r["prefix"] + "...",
                                        ",".join(r["scopes"]), _t(r["expires_at"]),
                                        "revoked" if r["revoked"] else "") for r in rs],
                                      ["id", "name", "user", "key", "scopes", "expires", ""]) if rs else "no keys")
    return 0


async def _key_revoke(args, actor, users: UserService) -> int:
    k = await users.revoke_key(actor, args.key)
    emit(args, key_view(k), f"revoked {k.name} ({k.prefix}...)")
    return 0


def _t(epoch: float | None) -> str:
    from datetime import UTC, datetime

    return when(datetime.fromtimestamp(epoch, UTC)) if epoch else "-"
