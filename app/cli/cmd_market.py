"""imewe market publish|withdraw|offers|quote|order|orders|rate|ledger: the marketplace between linked sites.

The changes (publish, withdraw, quote, order, rate, take, comment) are site operations: sent to the site's owner
(``imewe serve`` or the window) when one runs, else written to the store and the site-link outbox under the
site's lock; the owner sends them when the link is up and applies what the other site answers. The rest reads."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.bootstrap import StoreCore, site_admin
from app.cli.output import add_json_flag, call_site, emit, table, with_core
from app.core.domain.errors import ValidationError
from app.core.sites.market import KINDS, Market


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("market", help="the marketplace between linked sites: offers, quotes, orders, ledger")
    ms = p.add_subparsers(dest="market_cmd", metavar="ACTION", required=True)

    pub = ms.add_parser("publish", help="offer capacity, a template or a playbook to chosen linked sites")
    pub.add_argument("kind", nargs="?", choices=KINDS)
    pub.add_argument("name", nargs="?", help="the offer's name (for a template or playbook: its catalogue name)")
    pub.add_argument("--file", type=Path, help="many offers at once: a JSON list of {kind, name, process, "
                                               "material, per_hour, per_part, currency, lead_time_h}")
    pub.add_argument("--to", required=True, help="linked sites that see it: SITE[,SITE]")
    pub.add_argument("--process", default="", help="capacity: the process offered (fdm, sla, cnc_mill...)")
    pub.add_argument("--material", default="", help="capacity: the material (any when omitted)")
    pub.add_argument("--per-hour", dest="per_hour", help="price per machine hour")
    pub.add_argument("--per-part", dest="per_part", help="price per part made")
    pub.add_argument("--currency", default="EUR")
    pub.add_argument("--lead-time", dest="lead_time_h", help="hours from order to done (for the on-time rate)")
    _change(pub, _publish)

    wd = ms.add_parser("withdraw", help="take one of this site's offers back")
    wd.add_argument("offer", help="its name or the first characters of its id")
    _change(wd, _withdraw)

    of = ms.add_parser("offers", help="what linked sites offer (with each site's quality); --mine: ours")
    of.add_argument("--search", default="", help="words in the name, process, material or kind")
    of.add_argument("--site", help="one linked site only")
    of.add_argument("--mine", action="store_true", help="this site's own offers")
    _leaf(of, _offers)

    qu = ms.add_parser("quote", help="ask a linked site to price a job under one of its offers")
    qu.add_argument("offer", help="the offer's name or the first characters of its id")
    qu.add_argument("--job", required=True, help="the job (id or its first characters)")
    _change(qu, _quote)

    od = ms.add_parser("order", help="order a quoted job: it is sent to the seller with the agreed price")
    od.add_argument("quote", help="the quote (first characters of its key; see: imewe market orders)")
    _change(od, _order)  # through the site's owner when one runs: its planner lets the job go at once

    ol = ms.add_parser("orders", help="quotes and orders, bought and sold")
    ol.add_argument("--side", choices=("buy", "sell"))
    _leaf(ol, _orders)

    rt = ms.add_parser("rate", help="rate a finished order you bought (1 to 5 stars)")
    rt.add_argument("order")
    rt.add_argument("stars", type=int)
    rt.add_argument("--note", default="")
    _change(rt, _rate)

    tk = ms.add_parser("take", help="add a template or playbook a linked site offers to this site's catalogue")
    tk.add_argument("offer", help="the offer's name or the first characters of its id")
    _change(tk, _take)

    cm = ms.add_parser("comment", help="comment on an offer or order shared with a linked site")
    cm.add_argument("item", help="the offer (name or id) or order (first characters of its key)")
    cm.add_argument("text")
    cm.add_argument("--author", help="who writes (default: the signed-in person, else your login name)")
    _change(cm, _comment)
    cs = ms.add_parser("comments", help="the comments on an offer or order, from both sites, with who and when")
    cs.add_argument("item")
    _leaf(cs, _comments)

    lg = ms.add_parser("ledger", help="amounts owed, order by order; --csv FILE (or -) exports it")
    lg.add_argument("--csv", dest="csv_path", help="write CSV to this file ('-': standard output)")
    _leaf(lg, _ledger)


def _leaf(p: argparse.ArgumentParser, fn: Any) -> None:
    """A command that reads: on the store from here."""
    add_json_flag(p)
    p.set_defaults(handler=lambda args: with_core(args, lambda core: fn(args, core)))


def _change(p: argparse.ArgumentParser, fn: Any) -> None:
    """A command that changes the site: ``fn`` sends its operation with ``call_site`` (to the owner, or on the
    store under the site's lock)."""
    add_json_flag(p)
    p.set_defaults(handler=fn)


def _market(core: StoreCore) -> Market:
    return Market(site_admin(core.config, core.store, core.clock))


def _money(amount: float | None, currency: str) -> str:
    return "-" if amount is None else f"{amount:,.2f} {currency}"


def _when(ts: float | None) -> str:
    return "-" if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _price(o: dict[str, Any]) -> str:
    out = []
    if o["price_per_hour"] is not None:
        out.append(f"{o['price_per_hour']:g} {o['currency']}/h")
    if o["price_per_part"] is not None:
        out.append(f"{o['price_per_part']:g} {o['currency']}/part")
    return " + ".join(out)


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v * 100:.0f} %"


def _publish(args: argparse.Namespace) -> int:
    to = [s.strip() for s in args.to.split(",") if s.strip()]
    if args.file is not None:
        if args.kind or args.name:
            raise ValidationError("give either KIND NAME or --file, not both", "file")
        done = call_site(args, "market.publish", {"offers": _offers_file(args.file), "to": to})
        emit(args, done, lambda d: f"{len(d)} offer(s) published to {len(d[0]['to_sites'])} site(s), sent in "
                                   "pages when the link is up")
        return 0
    if not args.kind or not args.name:
        raise ValidationError("say what to offer: KIND NAME (capacity, template or playbook), or --file", "kind")
    spec = {"kind": args.kind, "name": args.name, "process": args.process, "material": args.material,
            "per_hour": args.per_hour, "per_part": args.per_part, "currency": args.currency,
            "lead_time_h": args.lead_time_h}
    o = call_site(args, "market.publish", {"offers": [spec], "to": to})[0]
    emit(args, o, lambda d: f"offer {d['id'][:8]} {d['name']} (version {d['version']}): {_price(d)}; published to "
                            f"{len(d['to_sites'])} site(s), sent when the link is up")
    return 0


def _offers_file(path: Path) -> list[Any]:
    import json

    try:
        if path.stat().st_size > 50_000_000:
            raise ValidationError(f"{path.name} is larger than 50 MB", "file")
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(f"cannot read {path}: {exc}", "file") from exc
    except json.JSONDecodeError as exc:
        raise ValidationError(f"{path.name} is not JSON: {exc}", "file") from exc
    if not isinstance(data, list):
        raise ValidationError(f"{path.name}: give a JSON list of offers", "file")
    return data


def _withdraw(args: argparse.Namespace) -> int:
    o = call_site(args, "market.withdraw", {"offer": args.offer})
    emit(args, o, lambda d: f"offer {d['name']} withdrawn (version {d['version']})")
    return 0


async def _offers(args: argparse.Namespace, core: StoreCore) -> int:
    market = _market(core)
    if args.mine:
        rows = [o for o in await market.my_offers() if not args.search or args.search.lower() in o["name"].lower()]
        emit(args, rows, lambda d: table([[o["id"][:8], o["kind"], o["name"], o["process"] or "-",
                                           o["material"] or "any", _price(o), len(o["to_sites"])] for o in d],
                                         ["ID", "KIND", "NAME", "PROCESS", "MATERIAL", "PRICE", "SITES"])
             if d else "this site offers nothing yet (imewe market publish capacity NAME --process fdm "
                       "--per-hour 12 --to SITE)")
        return 0
    rows = await market.offers(args.search, args.site)

    def text(d: list[dict[str, Any]]) -> str:
        if not d:
            return "no offers from linked sites yet (they publish with: imewe market publish ... --to THIS-SITE)"
        body = [[o["id"][:8], o["site_name"], o["kind"], o["name"], o["process"] or "-", o["material"] or "any",
                 _price(o), "-" if o["lead_time_h"] is None else f"{o['lead_time_h']:g} h",
                 _pct((o["quality"] or {}).get("on_time_rate")), _pct((o["quality"] or {}).get("failure_rate")),
                 "-" if not o["quality"] or o["quality"]["avg_delay_h"] is None
                 else f"{o['quality']['avg_delay_h']:g} h",
                 "-" if not o["quality"] or o["quality"]["rating"] is None else f"{o['quality']['rating']:g}/5"]
                for o in d]
        return table(body, ["ID", "SITE", "KIND", "NAME", "PROCESS", "MATERIAL", "PRICE", "LEAD", "ON TIME",
                            "FAILED", "AVG DELAY", "RATING"])

    emit(args, rows, text)
    return 0


def _quote(args: argparse.Namespace) -> int:
    o = call_site(args, "market.quote", {"offer": args.offer, "job": args.job})
    emit(args, o, lambda d: f"quote {d['key'][:8]} asked of the site for job {d['job_name']} "
                            f"({d['parts']} part(s), {d['hours']:.2f} h); see: imewe market orders")
    return 0


def _order(args: argparse.Namespace) -> int:
    placed = call_site(args, "market.order", {"quote": args.quote})
    emit(args, placed, lambda d: f"order {d['key'][:8]}: job {d['job_name']} for {_money(d['amount'], d['currency'])}"
                                 f", queued for {d['site_name']} (offload {d['offload_key'][:8]})")
    return 0


async def _orders(args: argparse.Namespace, core: StoreCore) -> int:
    market = _market(core)
    rows = await market.orders(args.side)
    emit(args, rows, lambda d: table([[o["key"][:8], o["side"], o["site_name"], o["offer_name"], o["job_name"],
                                       o["state"], _money(o["amount"], o["currency"]),
                                       "-" if o["rating"] is None else f"{o['rating']}/5", o["reason"][:40]]
                                      for o in d],
                                     ["ORDER", "SIDE", "SITE", "OFFER", "JOB", "STATE", "AMOUNT", "RATING", "NOTE"])
         if d else "no quotes or orders yet (imewe market quote OFFER --job JOB)")
    return 0


def _rate(args: argparse.Namespace) -> int:
    o = call_site(args, "market.rate", {"order": args.order, "stars": args.stars, "note": args.note})
    emit(args, o, lambda d: f"order {d['key'][:8]} rated {d['rating']}/5; the site is told when the link is up")
    return 0


def _take(args: argparse.Namespace) -> int:
    t = call_site(args, "market.take", {"offer": args.offer})
    emit(args, t, lambda d: f"{d['kind']} {d['name']}: " + (f"unchanged (version {d['version']})" if d["unchanged"]
                                                           else f"version {d['version']} added to this site"))
    return 0


def _comment(args: argparse.Namespace) -> int:
    c = call_site(args, "market.comment", {"item": args.item, "text": args.text, "author": args.author,
                                           "login": _login()})
    emit(args, c, lambda d: f"comment on {d['subject'][:14]} sent to {len(d['sent_to'])} site(s) when the link is up")
    return 0


async def _comments(args: argparse.Namespace, core: StoreCore) -> int:
    market = _market(core)
    rows = await market.comments(args.item)
    emit(args, rows, lambda d: "\n".join(f"{_when(c['at'])}  {c['author']} ({c['site_name']}): {c['text']}"
                                         for c in d) or "no comments yet (imewe market comment ITEM TEXT)")
    return 0


def _login() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "someone"


async def _ledger(args: argparse.Namespace, core: StoreCore) -> int:
    market = _market(core)
    if args.csv_path:
        text = await market.ledger_csv()
        if args.csv_path == "-":
            sys.stdout.write(text)
        else:
            Path(args.csv_path).write_text(text, encoding="utf-8")
            print(f"ledger written to {args.csv_path}")
        return 0
    rows = await market.ledger()

    def text_of(d: list[dict[str, Any]]) -> str:
        if not d:
            return "the ledger is empty (orders appear here once the selling site takes them)"
        totals: dict[tuple[str, str], float] = {}
        for e in d:
            k = (e["side"], e["currency"])
            totals[k] = totals.get(k, 0.0) + e["amount"]
        out = table([[_when(e["at"]), e["order_key"][:8], e["entry"], e["side"], e["site_name"],
                      _money(e["amount"], e["currency"]), e["job_name"] or ""] for e in d],
                    ["WHEN", "ORDER", "ENTRY", "SIDE", "SITE", "AMOUNT", "JOB"])
        owed = [f"{'we owe' if s == 'buy' else 'owed to us'}: {_money(v, c)}" for (s, c), v in sorted(totals.items())]
        return out + "\n" + "; ".join(owed)

    emit(args, rows, text_of)
    return 0
