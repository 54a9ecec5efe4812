"""Signing in: the first admin, the bootstrap rule, session tokens that expire and end, wrong passwords that slow
down and lock, API keys that expire and are revoked; passwords and keys never stored in clear. Real SQLite and
PostgreSQL stores, the real CLI."""

from __future__ import annotations

import asyncio
import json
import stat
from pathlib import Path

import pytest
import sqlalchemy as sa

from app.core.auth.permissions import Action, Role
from app.core.auth.service import SignInPolicy, UserService
from app.core.clock import ManualClock
from app.core.domain.errors import AuthError, PermissionDenied, ValidationError
from app.core.store.db import open_store

from .people_site import PASSWORD, cli


@pytest.fixture
def people(tmp_path: Path, db_url: str):
    store = open_store(db_url)
    clock = ManualClock()
    users = UserService(store, clock, tmp_path / "keys", SignInPolicy(first_delay_s=2, max_delay_s=8,
                                                                      lock_after=6, lock_s=600))
    yield users, clock, store
    store.close()


def run(coro):
    return asyncio.run(coro)


def _root(users: UserService):
    """The site's first admin, signed in."""
    run(users.create_admin("root", PASSWORD))
    return _signed_in(users, "root")


def _signed_in(users: UserService, name: str):
    return run(users.resolve(run(users.login(name, PASSWORD))[0]))


def test_the_first_admin_then_people_sign_in(people) -> None:
    users, clock, store = people
    assert not run(users.people_exist())
    admin = run(users.create_admin("Root", PASSWORD))
    assert admin.name == "root" and admin.role is Role.ADMIN and run(users.people_exist())
    with pytest.raises(PermissionDenied, match="an admin exists already"):
        run(users.create_admin("second", PASSWORD))
    with store.connect() as conn:
        stored = conn.execute(sa.text("SELECT password_hash FROM users")).scalar_one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    token, _ = run(users.login("root", PASSWORD))
    actor = run(users.resolve(token))
    assert actor.name == "root" and actor.role is Role.ADMIN


def test_sessions_expire_and_end_on_a_new_password_or_role(people) -> None:
    users, clock, _ = people
    root = _root(users)
    run(users.add(root, "olga", PASSWORD, "operator"))
    token, _ = run(users.login("olga", PASSWORD, session_s=3600))
    assert run(users.resolve(token)).role is Role.OPERATOR
    clock.advance(3601)
    with pytest.raises(AuthError, match="expired"):
        run(users.resolve(token))
    token, _ = run(users.login("olga", PASSWORD))
    run(users.set_role(root, "olga", "viewer"))
    with pytest.raises(AuthError, match="session ended"):
        run(users.resolve(token))
    token, _ = run(users.login("olga", PASSWORD))
    run(users.set_password(root, "olga", "another pass 2"))
    with pytest.raises(AuthError, match="session ended"):
        run(users.resolve(token))
    token, _ = run(users.login("olga", "another pass 2"))
    run(users.set_active(root, "olga", False))
    with pytest.raises(AuthError, match="no longer allowed"):
        run(users.resolve(token))
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    with pytest.raises(AuthError, match="signature"):
        run(users.resolve(forged))
    with pytest.raises(ValidationError, match="last admin"):
        run(users.set_role(root, "root", "viewer"))


def test_wrong_passwords_slow_down_then_lock_until_an_admin_unlocks(people) -> None:
    users, clock, _ = people
    root = _root(users)
    run(users.add(root, "olga", PASSWORD, "operator"))
    for _ in range(2):  # free tries
        with pytest.raises(AuthError, match="wrong user name or password"):
            run(users.login("olga", "nope nope"))
    with pytest.raises(AuthError, match="wrong"):
        run(users.login("olga", "nope nope"))  # the third: the next one must wait
    with pytest.raises(AuthError, match="try again in 2 s"):
        run(users.login("olga", PASSWORD))  # even the right password waits
    waits = []
    for _ in range(3):
        clock.advance(60)
        with pytest.raises(AuthError) as err:
            run(users.login("olga", "nope nope"))
        waits.append(str(err.value))
    assert "locked" in waits[-1] and "imewe users unlock olga" in waits[-1]
    clock.advance(60)
    with pytest.raises(AuthError, match="locked"):
        run(users.login("olga", PASSWORD))
    with pytest.raises(AuthError, match="wrong user name or password"):
        run(users.login("nobody", PASSWORD))  # an unknown name reads the same as a wrong password
    run(users.unlock(root, "olga"))
    assert run(users.login("olga", PASSWORD))[1].failed_logins == 0
    clock.advance(0)


def test_api_keys_scoped_expiring_revocable_and_stored_hashed(people) -> None:
    users, clock, store = people
    root = _root(users)
    run(users.add(root, "dana", PASSWORD, "designer"))
    dana = _signed_in(users, "dana")
    with pytest.raises(PermissionDenied, match="may not give a key estop"):
        run(users.create_key(dana, "ci", "read,estop", 3600))
    secret, key = run(users.create_key(dana, "ci", "read,submit", 3600))
    actor = run(users.resolve(secret))
    assert actor.name == "dana" and actor.may(Action.SUBMIT) and not actor.may(Action.PRIORITY)
    with store.connect() as conn:
        assert secret not in json.dumps([list(r) for r in conn.execute(sa.text("SELECT * FROM api_keys"))])
    with pytest.raises(PermissionDenied):
        run(users.create_key(dana, "x", "read", 3600, user_name="root"))  # not someone else's
    clock.advance(3601)
    with pytest.raises(AuthError, match="expired"):
        run(users.resolve(secret))
    secret2, key2 = run(users.create_key(root, "ci2", ["read"], 86400, user_name="dana"))
    assert run(users.resolve(secret2)).may(Action.READ)
    run(users.revoke_key(dana, key2.prefix))
    with pytest.raises(AuthError, match="revoked"):
        run(users.resolve(secret2))
    with pytest.raises(AuthError, match="unknown API key"):
        run(users.resolve("imk_" + "x" * 43))


def test_cli_bootstrap_rule_login_token_file_and_logout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IMEWE_TOKEN", raising=False)
    rc, out, _ = cli(tmp_path, "whoami")
    assert rc == 0 and out.startswith("cli (admin, the local operator")  # before any admin: as before
    rc, _, err = cli(tmp_path, "nodes", "add", "p1", "--process", "fdm")
    assert rc == 0, err
    rc, _, err = cli(tmp_path, "users", "create-admin", "root", "--password-stdin", stdin="short\n")
    assert rc == 2 and "at least 8" in err
    rc, _, err = cli(tmp_path, "users", "create-admin", "root", "--password-stdin", stdin=PASSWORD + "\n")
    assert rc == 0, err
    rc, _, err = cli(tmp_path, "nodes", "add", "p2", "--process", "fdm")
    assert rc == 2 and "imewe login" in err
    rc, _, err = cli(tmp_path, "login", "root", "--password-stdin", stdin="wrong pass\n")
    assert rc == 2 and err.strip() == "imewe: wrong user name or password"
    rc, _, err = cli(tmp_path, "login", "root", "--password-stdin", stdin=PASSWORD + "\n")
    assert rc == 0, err
    token_file = tmp_path / "keys" / "cli-session.token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    rc, _, err = cli(tmp_path, "users", "add", "olga", "--role", "operator", "--password-stdin",
                     stdin=PASSWORD + "\n")
    assert rc == 0, err
    rc, out, _ = cli(tmp_path, "apikeys", "create", "robot", "--scopes", "read,submit", "--days", "1", "--json")
    key = json.loads(out)["key"]
    assert rc == 0 and key.startswith("imk_")
    rc, out, _ = cli(tmp_path, "apikeys", "list")
    assert "robot" in out and key not in out
    rc, out, err = cli(tmp_path, "--json", "users", "list")
    assert rc == 0 and {u["name"]: u["role"] for u in json.loads(out)} == {"root": "admin", "olga": "operator"}
    rc, _, _ = cli(tmp_path, "login", "olga", "--password-stdin", stdin=PASSWORD + "\n")
    rc, _, err = cli(tmp_path, "users", "list")
    assert rc == 2 and "olga may not users" in err
    rc, out, _ = cli(tmp_path, "nodes", "add", "p3", "--process", "fdm")
    assert rc == 2
    monkeypatch.setenv("IMEWE_TOKEN", key)  # the environment wins over the file; the key acts within its scopes
    rc, out, _ = cli(tmp_path, "whoami")
    assert rc == 0 and out.startswith("root")
    monkeypatch.delenv("IMEWE_TOKEN")
    rc, out, _ = cli(tmp_path, "logout")
    assert rc == 0 and not token_file.exists()
    rc, _, err = cli(tmp_path, "audit", "list")
    assert rc == 2 and "imewe login" in err


def test_names_and_roles_are_checked(people) -> None:
    users, _, _ = people
    root = _root(users)
    for bad in ("", "../etc", "a b", "x" * 80, "-lead"):
        with pytest.raises(ValidationError):
            run(users.add(root, bad, PASSWORD, "viewer"))
    with pytest.raises(ValidationError, match="unknown role 'boss'"):
        run(users.add(root, "sam", PASSWORD, "boss"))


def test_a_wrong_current_password_slows_down_and_locks_like_a_wrong_sign_in(people) -> None:
    users, clock, _ = people
    root = _root(users)
    run(users.add(root, "olga", PASSWORD, "operator"))
    olga = _signed_in(users, "olga")
    for _ in range(3):  # two free tries, then the third makes the next one wait
        with pytest.raises(AuthError, match="current password is wrong"):
            run(users.set_password(olga, "olga", "a new pass 1", old_password="guess guess"))
    with pytest.raises(AuthError, match="try again in 2 s"):  # even the right one waits
        run(users.set_password(olga, "olga", "a new pass 1", old_password=PASSWORD))
    for _ in range(3):
        clock.advance(60)
        with pytest.raises(AuthError) as err:
            run(users.set_password(olga, "olga", "a new pass 1", old_password="guess guess"))
    assert "locked" in str(err.value) and "imewe users unlock olga" in str(err.value)
    with pytest.raises(AuthError, match="locked"):
        run(users.login("olga", PASSWORD))  # the lock holds for signing in too
    run(users.unlock(root, "olga"))
    run(users.set_password(olga, "olga", "a new pass 1", old_password=PASSWORD))
    assert run(users.login("olga", "a new pass 1"))[1].failed_logins == 0
