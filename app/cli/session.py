"""Who the CLI acts as: the person whose session token it holds (``imewe login`` keeps it in the home's keys/
with mode 0600; ``IMEWE_TOKEN`` overrides it), or, before the site has an admin, the one local operator."""

from __future__ import annotations

import os
from pathlib import Path

from app.core.auth.principal import LOCAL_OPERATOR, LOCAL_READER, Actor
from app.core.auth.secrets_file import write_private
from app.core.auth.service import UserService
from app.core.domain.errors import AuthError

TOKEN_ENV = "IMEWE_TOKEN"


def token_path(home: Path) -> Path:
    return home / "keys" / "cli-session.token"


def saved_token(home: Path) -> str | None:
    env = os.environ.get(TOKEN_ENV, "").strip()
    if env:
        return env
    try:
        return token_path(home).read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise AuthError(f"cannot read the saved session {token_path(home)}: {exc.strerror}") from exc


def save_token(home: Path, token: str) -> Path:
    path = token_path(home)
    write_private(path, token.encode())
    return path


def forget_token(home: Path) -> bool:
    path = token_path(home)
    existed = path.exists()
    path.unlink(missing_ok=True)
    return existed


async def cli_actor(users: UserService, home: Path) -> Actor:
    """The person the CLI acts as. With people and no one signed in: a reader, asked to sign in for anything
    else (one line, exit 2)."""
    token = saved_token(home)
    if token:
        return await users.resolve(token)
    return LOCAL_OPERATOR if not await users.people_exist() else LOCAL_READER
