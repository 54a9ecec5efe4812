"""imewe nodes agents|accept|refuse: node agents' keys, accepted by a person before an agent gets the pairing token
(trust on first use, as with SSH host keys or site IDs)."""

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


def _refuse(args: argparse.Namespace) -> int:
    key = call_site(args, "agents.refuse", {"agent": args.agent})
    emit(args, key, lambda k: f"{k['name']} refused (key {_grouped(k['fingerprint'])}): it is sent nothing")
    return 0
