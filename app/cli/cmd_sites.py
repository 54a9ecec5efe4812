"""imewe sites id|add|accept|remove|list|status: this site's ID, the allow list of linked sites, link health.

Changes go through the site's owner (``imewe serve`` or the control room) when one runs, else to the store, where
the next owner finds them.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from app.cli.output import add_json_flag, call_site, emit, table, with_core
from app.core.sites.config import SitesConfig
from app.core.sites.site_id import short_id

if TYPE_CHECKING:  # the store (SQLAlchemy) is loaded by the commands that read it; 'sites id' needs only the key
    from app.bootstrap import StoreCore
    from app.core.sites.admin import SiteAdmin


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sites", help="linked sites: this site's ID, pairing, link status")
    ss = p.add_subparsers(dest="sites_cmd", metavar="ACTION", required=True)

    x = ss.add_parser("id", help="show this site's ID (give it to the admin of the other site)")
    x.add_argument("--qr", action="store_true", help="also draw it as a QR code (needs segno or qrcode)")
    add_json_flag(x)
    x.set_defaults(handler=_id)

    x = ss.add_parser("add", help="allow a site by its ID, and dial it at ADDRESS (host:port)")
    x.add_argument("site_id")
    x.add_argument("address", nargs="?", default="", help="host:port of the other site, e.g. 10.0.0.5:47470")
    x.add_argument("--name", default="", help="a name to show for it")
    add_json_flag(x)
    x.set_defaults(handler=_allow)

    x = ss.add_parser("accept", help="accept a site that asked to link (see 'imewe sites list')")
    x.add_argument("site_id", help="its ID (or the first group of it, as 'sites list' shows)")
    x.add_argument("--address", default="", help="host:port, if this site should dial it too")
    x.add_argument("--name", default="")
    add_json_flag(x)
    x.set_defaults(handler=_accept)

    x = ss.add_parser("remove", help="revoke a site: its link drops and it is refused from now on")
    x.add_argument("site", help="name or ID")
    add_json_flag(x)
    x.set_defaults(handler=_remove)

    for name, fn, help_ in (("list", _list, "every known site: allowed, pending (asked to link) or revoked"),
                            ("status", _status, "link health, queued messages and the last summary of each")):
        x = ss.add_parser(name, help=help_)
        add_json_flag(x)
        x.set_defaults(handler=lambda a, fn=fn: with_core(a, lambda c: fn(a, c)))


def admin_for(core: StoreCore) -> SiteAdmin:
    from app.bootstrap import site_admin

    return site_admin(core.config, core.store, core.clock)


def qr_text(data: str) -> str | None:
    """The ID as a text QR code, if a QR library is installed."""
    try:
        import segno  # type: ignore[import-not-found]

        return segno.make(data, error="m").terminal(compact=True) or None
    except ImportError:
        pass
    try:
        import io

        import qrcode  # type: ignore[import-not-found]

        q = qrcode.QRCode(border=1)
        q.add_data(data)
        buf = io.StringIO()
        q.print_ascii(out=buf)
        return buf.getvalue()
    except ImportError:
        return None


def _id(args: argparse.Namespace) -> int:
    """The ID is the site certificate's fingerprint: read from the home's keys/, without opening the store."""
    from app.core.config import load_config
    from app.core.sites.identity import load_or_create_identity

    config = load_config(args.home, args.db)
    config.paths.ensure()
    identity = load_or_create_identity(config.paths.keys, config.site_name)
    data = {"site_id": identity.site_id, "name": config.site_name}

    def text(d: dict) -> str:
        out = f"{d['site_id']}\n({d['name']}; give this ID to the admin of the site you want to link with)"
        if args.qr:
            qr = qr_text(d["site_id"])
            out += "\n" + (qr or "(no QR library installed: pip install segno)")
        return out

    emit(args, data, text)
    return 0


def _allow(args: argparse.Namespace) -> int:
    peer = call_site(args, "sites.add", {"site_id": args.site_id, "address": args.address, "name": args.name})
    emit(args, peer, lambda d: f"allowed site {d['name']} ({short_id(d['site_id'])})"
         + (f", dialing {d['address']}" if d["address"] else "")
         + "; the admin there must accept this site's ID too ('imewe sites id')")
    return 0


def _accept(args: argparse.Namespace) -> int:
    peer = call_site(args, "sites.accept", {"site": args.site_id, "address": args.address, "name": args.name})
    emit(args, peer, lambda d: f"accepted site {d['name']} ({short_id(d['site_id'])})")
    return 0


def _remove(args: argparse.Namespace) -> int:
    peer = call_site(args, "sites.revoke", {"site": args.site})
    emit(args, peer, lambda d: f"revoked site {d['name']} ({short_id(d['site_id'])})")
    return 0


async def _list(args: argparse.Namespace, core: StoreCore) -> int:
    from app.core.api.views import peer_dict, stamp

    peers = await admin_for(core).peers()
    rows = [[short_id(p.site_id), p.name, p.state, p.address or "-", stamp(p.last_seen), p.attempts,
             p.last_error[:50]] for p in peers]
    emit(args, [peer_dict(p) for p in peers], lambda _: table(
        rows, ["ID", "NAME", "STATE", "ADDRESS", "LAST SEEN", "TRIES", "LAST ERROR"]) if rows else
        "no linked sites; add one with 'imewe sites add ID ADDRESS'")
    return 0


async def _status(args: argparse.Namespace, core: StoreCore) -> int:
    from app.core.api.views import peer_dict, stamp

    admin = admin_for(core)
    peers = await admin.peers()
    outbox = await admin.outbox_counts()
    summaries = await admin.summaries()
    offloads = await admin.offloads(open_only=True)
    spent = await admin.privacy_spent()
    cfg = SitesConfig.from_config(core.config)
    budget = cfg.epsilon_per_day
    data = []
    for p in peers:
        s, at = summaries.get(p.site_id, (None, None))
        data.append(peer_dict(p) | {"queued": outbox.get(p.site_id, 0), "summary": s,
                                    "learning": cfg.shares_learning(p.site_id, p.name),
                                    "summary_at": stamp(at) if at else None,
                                    "open_offloads": sum(1 for o in offloads if o.peer_id == p.site_id),
                                    "privacy": {"epsilon_spent_today": round(spent.get(p.site_id, 0.0), 3),
                                                "epsilon_per_day": budget}})

    def text(ds: list[dict]) -> str:
        if not ds:
            return "no linked sites"
        rows = []
        for d in ds:
            s = d["summary"] or {}
            machines = sum(sum(v.values()) for v in (s.get("machines") or {}).values())
            lat = f"{d['latency_ms']:.1f}" if d["latency_ms"] is not None else "-"
            rows.append([short_id(d["site_id"]), d["name"], d["state"], d["last_seen"] or "-", lat, d["queued"],
                         d["open_offloads"], machines if s else "-", s.get("alerts", "-") if s else "-",
                         f"{d['privacy']['epsilon_spent_today']:g}/{d['privacy']['epsilon_per_day']:g}",
                         _learning(d)])
        return table(rows, ["ID", "NAME", "STATE", "LAST SEEN", "MS", "QUEUED", "OFFLOADS", "MACHINES", "ALERTS",
                            "PRIVACY SPENT", "LEARNING"])

    emit(args, data, text)
    return 0


def _learning(d: dict) -> str:
    """Whether the link shares learned corrections ([sites] learning_links), and how many types it sent us."""
    if not d.get("learning"):
        return "off"
    sent = ((d.get("summary") or {}).get("learning") or {}).get("types") or {}
    return f"on, {len(sent)} types in" if sent else "on"
