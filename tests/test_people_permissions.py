"""The permission table, enforced the same everywhere: each role x each action through the service layer, the
CLI and the control channel's HTTP API of a real running site (one owner for the module, on 127.0.0.1)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import aiohttp
import pytest

from app.bootstrap import site_admin
from app.core.api.operations import OPS, run_op
from app.core.audit import read_log
from app.core.auth.permissions import PERMISSIONS, Action, Role, allowed, markdown_table
from app.core.auth.principal import Actor
from app.core.domain.errors import PermissionDenied
from app.core.sites.identity import load_or_create_identity

from .helpers import FDM, job_spec
from .people_site import PASSWORD, RunningSite, cli

ROLES = list(Role)
_n = itertools.count()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSite]:
    home = tmp_path_factory.mktemp("people-site")
    s = RunningSite(home)
    s.add_people()
    s.other_site = load_or_create_identity(home / "other" / "keys", "other").site_id
    try:
        yield s
    finally:
        s.close()


async def _do(site: RunningSite, action: Action, actor: Actor) -> None:
    """One action through the core services, as ``actor``."""
    core = site.core
    admin = site_admin(core.config, core.store, core.clock)
    if action in (Action.PRIORITY, Action.CANCEL, Action.OFFLOAD):
        job = await core.jobs.submit(job_spec(parts=1, name=f"j{next(_n)}"))
    if action is Action.SUBMIT:
        await core.jobs.submit(job_spec(parts=1), actor=actor)
    elif action is Action.PRIORITY:
        await core.jobs.set_priority(job.id, 3, actor=actor)
    elif action is Action.CANCEL:
        await core.jobs.cancel(job.id, actor=actor)
    elif action is Action.ESTOP:
        await core.production.request_emergency_stop(site.node.id, actor=actor)
    elif action is Action.PAUSE:
        await core.production.request_pause(site.node.id, actor=actor)
        await core.production.request_resume(site.node.id, actor=actor)
    elif action is Action.MACHINES:
        await core.fleet.register(f"m-{uuid4().hex[:8]}", FDM, actor=actor, bring_up=True)
    elif action is Action.PAIR_SITES:
        await admin.pair(site.other_site, actor=actor)
    elif action is Action.OFFLOAD:
        await admin.pair(site.other_site, "127.0.0.1:9", actor="test")
        await admin.offload(job, site.other_site, actor=actor)
    elif action is Action.USERS:
        await site.users.add(actor, f"u{next(_n)}", PASSWORD, "viewer")
    elif action is Action.AUDIT:
        await read_log(core.store, actor, 5)
    elif action is Action.READ:
        await run_op(OPS["kernel.status"], _site_ops(site), {}, actor)
    else:
        raise AssertionError(f"no service call for {action}")


def _site_ops(site: RunningSite):
    from app.bootstrap import site_ops

    return site_ops(site.core, "test")


SERVICE_ACTIONS = [a for a in Action if a is not Action.CONFIG]  # no service changes config.toml at run time


@pytest.mark.parametrize("action", SERVICE_ACTIONS)
@pytest.mark.parametrize("role", ROLES)
def test_service_layer_enforces_the_table(site: RunningSite, role: Role, action: Action) -> None:
    actor = Actor(f"{role.value}-person", role)
    if allowed(role, action):
        site.call(_do(site, action, actor))
    else:
        with pytest.raises(PermissionDenied, match=f"{role.value}-person may not {action.value}"):
            site.call(_do(site, action, actor))


def test_an_api_key_is_held_to_its_scopes_inside_the_role() -> None:
    key = Actor("olga", Role.OPERATOR, scopes=frozenset({Action.READ}), kind="key")
    assert key.may(Action.READ) and not key.may(Action.ESTOP)
    wide = Actor("vera", Role.VIEWER, scopes=frozenset(Action), kind="key")  # scopes never widen a role
    assert not wide.may(Action.SUBMIT)


def test_the_readme_holds_the_table_as_written() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert markdown_table() in readme


def test_estop_belongs_to_every_role_that_may_touch_machines() -> None:
    for role, actions in PERMISSIONS.items():
        if actions & {Action.PAUSE, Action.CANCEL, Action.MACHINES}:
            assert Action.ESTOP in actions, role


# ---------------------------------------------------------------- the same through the CLI
def _cli_args(site: RunningSite, action: Action) -> list[str] | None:
    core = site.core
    if action in (Action.PRIORITY, Action.CANCEL):
        job = site.call(core.jobs.submit(job_spec(parts=1, name=f"c{next(_n)}")))
    return {
        Action.SUBMIT: ["jobs", "submit", "--name", "cli", "--process", "fdm", "--material", "pla", "--size",
                        "20x20x10"],
        Action.PRIORITY: ["jobs", "priority", str(job.id) if action is Action.PRIORITY else "", "4"],
        Action.CANCEL: ["jobs", "cancel", str(job.id) if action is Action.CANCEL else ""],
        Action.ESTOP: ["nodes", "estop", "m1"],
        Action.PAUSE: ["nodes", "pause", "m1"],
        Action.MACHINES: ["nodes", "add", f"c-{uuid4().hex[:8]}", "--process", "fdm", "--volume", "200x200x200",
                          "--materials", "pla"],
        Action.PAIR_SITES: ["sites", "add", site.other_site],
        Action.USERS: ["users", "list"],
        Action.AUDIT: ["audit", "list", "--limit", "3"],
    }.get(action)


CLI_ACTIONS = [Action.SUBMIT, Action.PRIORITY, Action.CANCEL, Action.ESTOP, Action.PAUSE, Action.MACHINES,
               Action.PAIR_SITES, Action.USERS, Action.AUDIT]


@pytest.mark.parametrize("action", CLI_ACTIONS)
@pytest.mark.parametrize("role", ROLES)
def test_cli_enforces_the_table(site: RunningSite, role: Role, action: Action,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMEWE_TOKEN", site.tokens[role])
    args = _cli_args(site, action)
    rc, out, err = cli(site.home, *args)
    if allowed(role, action):
        assert rc == 0, err
    else:
        assert rc == 2 and "may not" in err and len(err.strip().splitlines()) == 1, (rc, err)


def test_cli_without_a_session_is_told_to_sign_in(site: RunningSite, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IMEWE_TOKEN", raising=False)
    rc, _, err = cli(site.home, "nodes", "estop", "m1")
    assert rc == 2 and "imewe login" in err
    rc, out, err = cli(site.home, "--json", "kernel", "status")  # reading needs no sign-in
    assert rc == 0 and '"owner"' in out, err
    rc, out, _ = cli(site.home, "whoami")
    assert rc == 0 and "not signed in" in out


# ---------------------------------------------------------------- the same over HTTP
def _http_call(site: RunningSite, action: Action) -> tuple[str, str, dict] | None:
    core = site.core
    if action in (Action.PRIORITY, Action.CANCEL, Action.OFFLOAD):
        job = site.call(core.jobs.submit(job_spec(parts=1, name=f"h{next(_n)}")))
    if action is Action.OFFLOAD:
        site.call(site_admin(core.config, core.store, core.clock).pair(site.other_site, "127.0.0.1:9"))
    node = str(site.node.id)
    return {
        Action.READ: ("GET", "/kernel/status", {}),
        Action.SUBMIT: ("POST", "/jobs", {"spec": job_spec(parts=1)}),
        Action.PRIORITY: ("POST", f"/jobs/{job.id}/priority" if action is Action.PRIORITY else "", {"priority": 2}),
        Action.CANCEL: ("POST", f"/jobs/{job.id}/cancel" if action is Action.CANCEL else "", {}),
        Action.OFFLOAD: ("POST", f"/jobs/{job.id}/offload" if action is Action.OFFLOAD else "",
                         {"to": site.other_site}),
        Action.ESTOP: ("POST", f"/nodes/{node}/estop", {}),
        Action.PAUSE: ("POST", f"/nodes/{node}/pause", {}),
        Action.MACHINES: ("POST", "/nodes", {"name": f"h-{uuid4().hex[:8]}", "capabilities": FDM}),
        Action.PAIR_SITES: ("POST", "/sites", {"site_id": site.other_site}),
    }.get(action)


HTTP_ACTIONS = [Action.READ, Action.SUBMIT, Action.PRIORITY, Action.CANCEL, Action.OFFLOAD, Action.ESTOP,
                Action.PAUSE, Action.MACHINES, Action.PAIR_SITES]


@pytest.mark.parametrize("action", HTTP_ACTIONS)
@pytest.mark.parametrize("role", ROLES)
def test_http_enforces_the_table(site: RunningSite, role: Role, action: Action) -> None:
    method, path, body = _http_call(site, action)

    async def go() -> tuple[int, dict]:
        headers = {"Authorization": f"Bearer {site.tokens[role]}"}
        async with aiohttp.ClientSession() as http, http.request(
                method, site.info.url + path, data=json.dumps(body) if method != "GET" else None,
                headers=headers) as resp:
            return resp.status, await resp.json()

    import asyncio

    status, data = asyncio.run(go())
    if allowed(role, action):
        assert status == 200, data
    else:
        assert status == 403 and "may not" in data["error"], (status, data)


def test_every_audit_record_names_the_person(site: RunningSite) -> None:
    entries = site.call(read_log(site.core.store, "test", 10_000))
    actors = {e.actor for e in entries}
    assert {"root", "operator", "engineer"} <= actors
    assert not {"cli", "operator-person"} & {e.actor for e in entries if e.action.startswith("node.emergency")} \
        - {"operator-person"}
