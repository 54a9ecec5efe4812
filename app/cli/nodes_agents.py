"""imewe nodes agents|accept|refuse: node agents' keys, accepted by a person before an agent gets the pairing token
(trust on first use, as with SSH host keys or site IDs); imewe nodes update|updates: their software, pushed by
the running site in stages."""

from __future__ import annotations

import argparse
from typing import Any

from app.cli.output import add_json_flag, call_site, emit, table, when


def register_agent_commands(ns: argparse._SubParsersAction) -> None:
    ag = ns.add_parser("agents", help="node agents heard and their keys: waiting, accepted, changed, refused")
    add_json_flag(ag)
    ag.set_defaults(handler=_agents)

    ac = ns.add_parser("accept", help="accept a waiting node agent's key (it then gets the token and joins)")
    ac.add_argument("agent", help="its name, key fingerprint or node id (the first characters do)")
    ac.add_argument("--fingerprint", default="", help="the fingerprint the agent printed at start: refused if the "
                                                      "key differs (the first 8+ characters do)")
    ac.add_argument("--replace", action="store_true", help="the machine was reinstalled: its new key replaces the "
                                                           "one accepted before under the same name")
    add_json_flag(ac)
    ac.set_defaults(handler=_accept)

    up = ns.add_parser("update", help="push this install's version to node agents: one first, then the rest once "
                                      "it came back healthy")
    up.add_argument("node", nargs="?", default="", help="one agent's machine (name or id)")
    up.add_argument("--all", action="store_true", help="every linked agent that runs an older version")
    up.add_argument("--force", action="store_true", help="also agents that run this version or a newer one")
    up.add_argument("--timeout", type=float, default=None, help="seconds an agent has to come back on the new "
                                                                "version (default 120)")
    up.add_argument("--no-wait", action="store_true", help="start the rollout and return")
    add_json_flag(up)
    up.set_defaults(handler=_update)

    us = ns.add_parser("updates", help="the site's latest agent software rollouts, step by step")
    add_json_flag(us)
    us.set_defaults(handler=_updates)

    rf = ns.add_parser("refuse", help="refuse a node agent's key (a linked one is dropped at once)")
    rf.add_argument("agent", help="its name, key fingerprint or node id")
    add_json_flag(rf)
    rf.set_defaults(handler=_refuse)


def _grouped(fp: str) -> str:
    return " ".join(fp[i:i + 4] for i in range(0, len(fp), 4))


def _agents(args: argparse.Namespace) -> int:
    data = call_site(args, "agents.list", {}, read_only=True)

    def text(d: dict[str, Any]) -> str:
        agents = d["agents"]
        if not agents:
            return "no node agent heard yet (a site with discovery lists them here as it hears them)"
        rows = [[a["name"], a["state_words"], _grouped(a["fingerprint"]), a["version"] or "-", a["address"] or "-",
                 a["machine"] or "-", when_seen(a["last_seen"])] for a in agents]
        waiting = sum(a["state"] in ("pending", "changed") for a in agents)
        note = (f"\n{waiting} waiting: compare the fingerprint with the one the agent printed at start, then "
                "imewe nodes accept NAME") if waiting else ""
        return table(rows, ["AGENT", "STATE", "KEY FINGERPRINT", "VERSION", "ADDRESS", "MACHINE", "LAST HEARD"]) \
            + note

    emit(args, data, text)
    return 0


def when_seen(ts: float) -> str:
    from datetime import UTC, datetime

    return when(datetime.fromtimestamp(ts, UTC)) if ts else "-"


def _accept(args: argparse.Namespace) -> int:
    key = call_site(args, "agents.accept", {"agent": args.agent, "fingerprint": args.fingerprint,
                                            "replace": args.replace})
    emit(args, key, lambda k: f"{k['name']} accepted (key {_grouped(k['fingerprint'])}); " + (
        "it joins the fleet within seconds" if k["site_running"] else
        "it joins the fleet when the site runs (imewe serve, or the control room)"))
    return 0


def _update(args: argparse.Namespace) -> int:
    import time

    from app.core.domain.errors import ValidationError

    if bool(args.node) == bool(args.all):
        raise ValidationError("name one agent's machine, or give --all", "node")
    rollout = call_site(args, "agents.update", {"node": args.node, "all": args.all, "force": args.force,
                                                "timeout_s": args.timeout})
    said: dict[str, str] = {}
    while not args.no_wait and rollout["state"] == "running":
        _tell(args, rollout, said)
        time.sleep(0.5)
        rollout = next(r for r in call_site(args, "agents.updates", {}, read_only=True)["rollouts"]
                       if r["id"] == rollout["id"])
    _tell(args, rollout, said)
    emit(args, rollout, lambda r: f"update to {r['version']}: {r['state']}" + (f" ({r['message']})"
                                                                               if r["message"] else ""))
    return 0 if rollout["state"] in ("done", "running") else 3


def _tell(args: argparse.Namespace, rollout: dict[str, Any], said: dict[str, str]) -> None:
    if getattr(args, "json", False):
        return
    for s in rollout["steps"]:
        line = f"  {s['name']}: {s['state']}" + (f" - {s['message']}" if s["message"] else "")
        if said.get(s["node_id"]) != line:
            said[s["node_id"]] = line
            print(line, flush=True)


def _updates(args: argparse.Namespace) -> int:
    data = call_site(args, "agents.updates", {}, read_only=True)

    def text(d: dict[str, Any]) -> str:
        if not d["rollouts"]:
            return "no agent update since the site started"
        out = []
        for r in d["rollouts"]:
            out.append(f"{when_seen(r['started_at'])}  to {r['version']} by {r['by']}: {r['state']}  {r['message']}")
            out += [f"  {s['name']}: {s['from_version'] or '?'} - {s['state']}  {s['message']}" for s in r["steps"]]
        return "\n".join(out)

    emit(args, data, text)
    return 0


def _refuse(args: argparse.Namespace) -> int:
    key = call_site(args, "agents.refuse", {"agent": args.agent})
    emit(args, key, lambda k: f"{k['name']} refused (key {_grouped(k['fingerprint'])}): it is sent nothing")
    return 0
