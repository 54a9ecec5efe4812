"""The marketplace between linked sites: no central cloud, a vendor is a linked site.

A site publishes offers (fabrication capacity by process and material, templates, playbooks; a price per hour
and/or per part) to chosen linked sites; they arrive there through the outbox and are browsed locally. A buyer
asks for a quote on a job; the seller prices it and answers; the buyer orders it, which sends the job as an
offload carrying the quote (so the order is placed exactly once, with the offload). The seller checks the quote
in the transaction that makes its job. Both sides keep a ledger of amounts owed, written from the same events
(accepted, then reversed if the job ends without being made), so the two ledgers agree. The buyer rates a
finished order, and sees each site's quality (on-time rate, failure rate, average delay) from its own offload
history with that site.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from app.core import audit
from app.core.auth.permissions import Action
from app.core.auth.principal import ActorLike, authorize
from app.core.domain.entities import Job
from app.core.domain.errors import NotFoundError, ValidationError
from app.core.sites import market_repo as mr
from app.core.sites import repo
from app.core.sites.admin import SiteAdmin, new_key
from app.core.sites.errors import MessageRejected
from app.core.sites.protocol import MAX_OFFERS, OFFER_SCHEMA, check_body
from app.core.sites.repo import Offload

KINDS = ("capacity", "template", "playbook")
QUOTE_VALID_S = 7 * 86_400.0
TERMINAL = ("COMPLETED", "FAILED", "CANCELLED", "REJECTED")
UNDONE = ("FAILED", "CANCELLED", "REJECTED")
_CURRENCY = re.compile(r"[A-Z]{3}")
_MAX_PRICE = 1e9
MAX_ITEM_BYTES = 256 * 1024  # a template's or playbook's body, well under a site message's limit


def _price(value: Any, what: str) -> float | None:
    if value is None or value == "":
        return None
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"{what} is a number (an amount in the offer's currency)", what) from exc
    if not math.isfinite(v) or not 0 <= v <= _MAX_PRICE:
        raise ValidationError(f"{what} is between 0 and {_MAX_PRICE:.0f}", what)
    return round(v, 4)


def quote_amount(offer: dict[str, Any], pieces: int, hours: float) -> float:
    """The price of a job under an offer: per part times the pieces, plus per hour times the estimated hours."""
    amount = (offer["price_per_part"] or 0.0) * pieces + (offer["price_per_hour"] or 0.0) * hours
    return round(amount, 2)


def site_quality(history: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each linked site's record with the jobs we sent it: failure rate over the jobs that ended made or failed,
    on-time rate and average delay over the made ones that had a due time, and the average rating we gave."""
    by: dict[str, dict[str, Any]] = {}
    for h in history:
        m = by.setdefault(h["peer_id"], {"sent": 0, "done": 0, "failed": 0, "with_due": 0, "on_time": 0,
                                         "delay_s": 0.0, "ratings": []})
        m["sent"] += 1
        if h["rating"] is not None:
            m["ratings"].append(h["rating"])
        if h["state"] == "FAILED":
            m["failed"] += 1
        if h["state"] != "COMPLETED":
            continue
        m["done"] += 1
        due = h["due_at"] if h["due_at"] is not None else h["order_due"]
        if due is not None:
            m["with_due"] += 1
            late = max(0.0, h["updated_at"] - due)
            m["on_time"] += late == 0.0
            m["delay_s"] += late
    out = {}
    for sid, m in by.items():
        ended = m["done"] + m["failed"]
        out[sid] = {"jobs_sent": m["sent"], "jobs_ended": ended,
                    "failure_rate": round(m["failed"] / ended, 3) if ended else None,
                    "on_time_rate": round(m["on_time"] / m["with_due"], 3) if m["with_due"] else None,
                    "avg_delay_h": round(m["delay_s"] / m["with_due"] / 3600, 2) if m["with_due"] else None,
                    "rating": round(sum(m["ratings"]) / len(m["ratings"]), 2) if m["ratings"] else None,
                    "ratings": len(m["ratings"])}
    return out


class Market:
    def __init__(self, admin: SiteAdmin) -> None:
        self.admin = admin
        self.site_id = admin.identity.site_id

    def _now(self) -> float:
        return self.admin.clock.now().timestamp()

    # ------------------------------------------------------------ selling
    async def publish(self, kind: str, name: str, to: list[str], *, process: str = "", material: str = "",
                      per_hour: Any = None, per_part: Any = None, currency: str = "EUR", lead_time_h: Any = None,
                      item: dict[str, Any] | None = None, actor: ActorLike = "admin") -> dict[str, Any]:
        """Offer something to chosen linked sites. Publishing the same kind and name again makes a new version
        (sites no longer chosen get it withdrawn)."""
        spec = {"kind": kind, "name": name, "process": process, "material": material, "per_hour": per_hour,
                "per_part": per_part, "currency": currency, "lead_time_h": lead_time_h, "item": item}
        return (await self.publish_many([spec], to, actor=actor))[0]

    async def publish_many(self, specs: list[dict[str, Any]], to: list[str],
                           actor: ActorLike = "admin") -> list[dict[str, Any]]:
        """Offers given as ``{kind, name, process, material, per_hour, per_part, currency, lead_time_h, item}``,
        all checked first, written in one transaction and sent in pages of ``MAX_OFFERS`` per message."""
        actor = authorize(actor, Action.PAIR_SITES)
        if not isinstance(specs, list) or not specs or len(specs) > 100_000:
            raise ValidationError("give 1 to 100,000 offers", "offers")
        checked = []
        for n, spec in enumerate(specs):
            try:
                checked.append(_checked_offer(spec))
            except ValidationError as exc:
                raise ValidationError(f"offer {n + 1} ({str(spec.get('name', ''))[:40]!r}): {exc}"
                                      if len(specs) > 1 else str(exc), exc.field) from exc
        if len({(c["kind"], c["name"]) for c in checked}) != len(checked):
            raise ValidationError("two offers have the same kind and name", "offers")
        if not to:
            raise ValidationError("say which linked sites see the offer (--to SITE[,SITE])", "to")
        peers = sorted({(await self.admin.find_peer(ref)).site_id for ref in to})
        now = self._now()

        def write(conn) -> list[dict[str, Any]]:
            out, send, drop = [], [], {}
            mine = {(o["kind"], o["name"]): o for o in mr.list_offers(conn, own_site=self.site_id, mine=True,
                                                                       withdrawn=True)}
            for c in checked:
                old = mine.get((c["kind"], c["name"]))
                offer = c | {"id": old["id"] if old else str(uuid4()), "version": old["version"] + 1 if old else 1,
                             "withdrawn": False}
                send.append(offer)
                for sid in set(old["to_sites"] if old else []) - set(peers):
                    drop.setdefault(sid, []).append(offer | {"withdrawn": True})
                out.append(offer | {"to_sites": peers})
            mr.put_offers(conn, self.site_id, send, peers, now)
            for sid in peers:
                _enqueue_offers(conn, sid, send, now)
            for sid, offers in drop.items():
                _enqueue_offers(conn, sid, offers, now)
            audit.record(conn, self.admin.clock.now(), actor, "market.publish", f"offers:{len(out)}", None,
                         {"names": [o["name"] for o in out[:20]], "sites": len(peers)})
            return out

        return await self.admin.write(write)

    async def withdraw(self, ref: str, actor: ActorLike = "admin") -> dict[str, Any]:
        actor = authorize(actor, Action.PAIR_SITES)
        offer = self._pick(await self.my_offers(), ref, "of this site")
        now = self._now()

        def write(conn) -> dict[str, Any]:
            o = {k: offer[k] for k in mr.OFFER_FIELDS} | {"withdrawn": True, "version": offer["version"] + 1}
            mr.put_offer(conn, self.site_id, o, offer["to_sites"], now)
            for sid in offer["to_sites"]:
                _enqueue_offers(conn, sid, [o], now)
            audit.record(conn, self.admin.clock.now(), actor, "market.withdraw", f"offer:{o['id']}", None, {})
            return o

        return await self.admin.write(write)

    async def my_offers(self) -> list[dict[str, Any]]:
        return await self.admin.read(lambda c: mr.list_offers(c, own_site=self.site_id, mine=True))

    # ------------------------------------------------------------ buying
    async def offers(self, search: str = "", site: str | None = None, limit: int = 10_000,
                     offset: int = 0) -> list[dict[str, Any]]:
        """What linked sites offer this site, each with its site's name and quality beside it."""
        sid = (await self.admin.find_peer(site)).site_id if site else None
        peers = {p.site_id: p.name for p in await self.admin.peers()}
        quality = await self.quality()
        rows = await self.admin.read(lambda c: mr.list_offers(c, own_site=self.site_id, mine=False, search=search,
                                                              site_id=sid, limit=limit, offset=offset))
        return [r | {"site_name": peers.get(r["site_id"], r["site_id"][:7]), "quality": quality.get(r["site_id"])}
                for r in rows]

    async def quality(self) -> dict[str, dict[str, Any]]:
        return site_quality(await self.admin.read(mr.offload_history))

    def pick_offer(self, rows: list[dict[str, Any]], ref: str) -> dict[str, Any]:
        return self._pick(rows, ref, "from a linked site")

    def _pick(self, rows: list[dict[str, Any]], ref: str, where: str, key: str = "id") -> dict[str, Any]:
        ref = (ref or "").strip()
        hits = [r for r in rows if r.get("name") == ref] or \
            ([r for r in rows if str(r[key]).startswith(ref.lower())] if len(ref) >= 4 else [])
        if len(hits) != 1:
            raise NotFoundError(f"no offer {ref[:60]!r} {where}" if not hits
                                else f"{ref!r} matches several offers; give the first characters of its id")
        return hits[0]

    async def ask_quote(self, offer_ref: str, job: Job, actor: ActorLike = "admin") -> dict[str, Any]:
        actor = authorize(actor, Action.OFFLOAD)
        offer = self._pick(await self.offers(), offer_ref, "from a linked site")
        if job.state.terminal or job.state.active:
            raise ValidationError(f"job {job.name} is {job.state.value}; only waiting jobs can be ordered", "job")
        pieces = sum(p.quantity for p in job.parts)
        hours = round(sum(p.estimated_duration_s * p.quantity for p in job.parts) / 3600, 4)
        now, key = self._now(), new_key()
        body = {"quote": key, "offer": offer["id"], "job_name": job.name[:200], "parts": max(1, pieces),
                "hours": hours, "processes": sorted({p.process.value for p in job.parts})[:50],
                "materials": sorted({p.material_type for p in job.parts})[:50]}
        row = {"key": key, "side": "buy", "peer_id": offer["site_id"], "offer_id": offer["id"],
               "offer_name": offer["name"], "job_id": str(job.id), "job_name": job.name[:200], "parts": body["parts"],
               "hours": hours, "state": "QUOTE_ASKED", "currency": offer["currency"], "created_at": now,
               "updated_at": now}

        def write(conn) -> dict[str, Any]:
            mr.add_order(conn, row)
            repo.enqueue(conn, offer["site_id"], new_key(), "market.quote.ask", body, now)
            audit.record(conn, self.admin.clock.now(), actor, "market.quote", f"job:{job.id}", None,
                         {"offer": offer["id"], "quote": key})
            return mr.get_order(conn, key) or row

        return await self.admin.write(write)

    async def order(self, quote_ref: str, job: Job | None = None, actor: ActorLike = "admin") -> dict[str, Any]:
        """Order a quoted job: it goes to the seller as an offload that carries the quote, exactly once."""
        o = await self.find_order(quote_ref, "buy")
        if o["state"] != "QUOTED":
            raise ValidationError(f"order {o['key'][:8]} is {o['state']}; only a quoted one can be ordered", "order")
        if o["valid_until"] is not None and o["valid_until"] < self._now():
            raise ValidationError(f"the quote {o['key'][:8]} ran out; ask for a new one", "order")
        if job is None or str(job.id) != o["job_id"]:
            raise ValidationError("the order is for the job that was quoted", "job")
        offer = await self.admin.read(mr.get_offer, o["peer_id"], o["offer_id"])
        lead = offer["lead_time_h"] if offer else None
        now = self._now()

        def placed(conn, off: Offload) -> None:
            due = now + lead * 3600 if lead is not None else None
            if not mr.move_order(conn, o["key"], ("QUOTED",), state="ORDERED", offload_key=off.key, due_at=due,
                                 updated_at=now):
                raise ValidationError(f"order {o['key'][:8]} was placed meanwhile", "order")

        await self.admin.offload(job, o["peer_id"], None, actor=actor,
                                 order={"quote": o["key"], "amount": o["amount"], "currency": o["currency"]},
                                 on_write=placed)
        return await self.find_order(o["key"])

    async def rate(self, ref: str, stars: int, note: str = "", actor: ActorLike = "admin") -> dict[str, Any]:
        authorize(actor, Action.OFFLOAD)
        o = await self.find_order(ref, "buy")
        if not isinstance(stars, int) or not 1 <= stars <= 5:
            raise ValidationError("a rating is 1 to 5 stars", "stars")
        if o["state"] not in ("COMPLETED", "FAILED"):
            raise ValidationError(f"order {o['key'][:8]} is {o['state']}; rate it once it is done", "order")
        note = (note or "").strip()[:1000]
        now = self._now()

        def write(conn) -> None:
            c = mr.t.market_orders.c
            done = conn.execute(mr.t.market_orders.update().where(c.key == o["key"], c.rating.is_(None))
                                .values(rating=stars, rating_note=note, updated_at=now)).rowcount
            if not done:
                raise ValidationError(f"order {o['key'][:8]} is rated already", "order")
            repo.enqueue(conn, o["peer_id"], new_key(), "market.rating",
                         {"order": o["key"], "stars": stars, "note": note}, now)

        await self.admin.write(write)
        return await self.find_order(o["key"])

    async def orders(self, side: str | None = None) -> list[dict[str, Any]]:
        peers = {p.site_id: p.name for p in await self.admin.peers()}
        return [o | {"site_name": peers.get(o["peer_id"], o["peer_id"][:7])}
                for o in await self.admin.read(mr.list_orders, side)]

    async def find_order(self, ref: str, side: str | None = None) -> dict[str, Any]:
        ref = (ref or "").strip().lower()
        rows = [o for o in await self.orders(side) if o["key"].startswith(ref)] if len(ref) >= 4 else []
        if len(rows) != 1:
            raise NotFoundError(f"no order {ref[:40]!r}" if not rows else f"{ref!r} matches several orders")
        return rows[0]

    async def ledger(self) -> list[dict[str, Any]]:
        peers = {p.site_id: p.name for p in await self.admin.peers()}
        return [e | {"site_name": peers.get(e["peer_id"], e["peer_id"][:7])} for e in await self.admin.read(mr.ledger)]

    async def ledger_csv(self) -> str:
        out = io.StringIO()
        w = csv.writer(out, lineterminator="\n")
        w.writerow(["at_utc", "order", "entry", "side", "site", "site_id", "amount", "currency", "offer", "job"])
        for e in await self.ledger():
            w.writerow([datetime.fromtimestamp(e["at"], UTC).isoformat(timespec="seconds"), e["order_key"],
                        e["entry"], e["side"], e["site_name"], e["peer_id"], f"{e['amount']:.2f}", e["currency"],
                        e["offer_name"] or "", e["job_name"] or ""])
        return out.getvalue()

    # ------------------------------------------------------------ comments (either side, who and when)
    def subject_peers(self, conn, subject: str) -> list[str]:
        """The linked sites that share ``subject`` ("offer:<id>" or "order:<key>") with this site."""
        kind, _, ident = subject.partition(":")
        if kind == "order":
            o = mr.get_order(conn, ident)
            return [o["peer_id"]] if o else []
        if kind == "offer":
            out: set[str] = set()
            for o in mr.offer_by_id(conn, ident):
                out |= set(o["to_sites"]) if o["site_id"] == self.site_id else {o["site_id"]}
            return sorted(out)
        return []

    def shares(self, conn, peer: str, subject: str) -> bool:
        return peer in self.subject_peers(conn, subject)

    async def subject_of(self, ref: str) -> str:
        """"offer:<id>" or "order:<key>" for an offer (name or id) or order (key) given by its first characters."""
        ref = (ref or "").strip()
        if ref.startswith(("offer:", "order:")):
            return ref
        try:
            return f"order:{(await self.find_order(ref))['key']}"
        except NotFoundError:
            pass
        rows = await self.my_offers() + await self.offers()
        return f"offer:{self._pick(rows, ref, 'or order here')['id']}"

    async def comment(self, ref: str, author: str, text: str) -> dict[str, Any]:
        subject = await self.subject_of(ref)
        text, author = (text or "").strip(), (author or "").strip()[:100] or "someone"
        if not 0 < len(text) <= 5000:
            raise ValidationError("a comment has 1 to 5000 characters", "text")
        now, key = self._now(), new_key()

        def write(conn) -> dict[str, Any]:
            peers = self.subject_peers(conn, subject)
            if not peers:
                raise ValidationError(f"{subject[:20]} is not shared with a linked site", "subject")
            mr.add_comment(conn, key, subject, self.site_id, author, text, now)
            for sid in peers:
                repo.enqueue(conn, sid, new_key(), "market.comment",
                             {"subject": subject, "author": author, "text": text, "at": now}, now)
            return {"key": key, "subject": subject, "site_id": self.site_id, "author": author, "text": text, "at": now,
                    "sent_to": peers}

        return await self.admin.write(write)

    async def comments(self, ref: str) -> list[dict[str, Any]]:
        subject = await self.subject_of(ref)
        peers = {p.site_id: p.name for p in await self.admin.peers()} | {self.site_id: "this site"}
        return [c | {"site_name": peers.get(c["site_id"], c["site_id"][:7])}
                for c in await self.admin.read(mr.comments, subject)]

    # ------------------------------------------------------------ what linked sites send (in one transaction)
    def apply_offers(self, conn, peer: str, key: str, body: dict[str, Any], now: float) -> None:
        """A page of offers from a linked site: every one checked before any is kept; newest versions win."""
        offers = body["offers"]
        for n, o in enumerate(offers):
            if not isinstance(o, dict):
                raise MessageRejected("schema", f"market.offers: offer {n} is not an object", key)
            check_body("market.offers", o, key, OFFER_SCHEMA)
            try:
                UUID(o["id"])
            except ValueError as exc:
                raise MessageRejected("schema", f"market.offers: offer {n}: id must be a UUID", key) from exc
            if o["kind"] == "capacity" and o["item"]:
                raise MessageRejected("schema", f"market.offers: offer {n}: capacity carries no item", key)
            if o["price_per_hour"] is None and o["price_per_part"] is None:
                raise MessageRejected("schema", f"market.offers: offer {n} has no price", key)
            if not _CURRENCY.fullmatch(o["currency"]):
                raise MessageRejected("schema", f"market.offers: offer {n}: currency is a three-letter code", key)
        if len({o["id"] for o in offers}) != len(offers):
            raise MessageRejected("schema", "market.offers: an offer is there twice", key)
        if not repo.inbox_claim(conn, peer, key, "market.offers", now):
            return
        mr.put_offers(conn, peer, offers, [], now)

    def apply_quote_ask(self, conn, peer: str, key: str, body: dict[str, Any], now: float) -> None:
        if not all(isinstance(x, str) and 0 < len(x) <= 40 for x in [*body["processes"], *body["materials"]]):
            raise MessageRejected("schema", "market.quote.ask: processes and materials are short names", key)
        if not repo.inbox_claim(conn, peer, key, "market.quote.ask", now):
            return
        offer = None
        try:
            offer = mr.get_offer(conn, self.site_id, str(UUID(body["offer"])))
        except ValueError:
            pass
        reason, amount = "", None
        if offer is None or offer["withdrawn"] or peer not in offer["to_sites"]:
            reason = "that offer is not open to your site (withdrawn, or never published to it)"
        elif offer["kind"] == "capacity" and (
                set(body["processes"]) != {offer["process"]}
                or (offer["material"] and set(body["materials"]) != {offer["material"]})):
            reason = (f"this offer is for {offer['process']} {offer['material'] or 'in any material'}; the job "
                      f"needs {', '.join(map(str, body['processes']))[:80]} in "
                      f"{', '.join(map(str, body['materials']))[:80]}")
        else:
            amount = quote_amount(offer, body["parts"], body["hours"])
        row = {"key": body["quote"], "side": "sell", "peer_id": peer, "offer_id": offer["id"] if offer else body["offer"],
               "offer_name": offer["name"] if offer else "", "job_name": body["job_name"], "parts": body["parts"],
               "hours": body["hours"], "state": "REFUSED" if reason else "QUOTED", "amount": amount,
               "currency": offer["currency"] if offer else "", "reason": reason,
               "valid_until": None if reason else now + QUOTE_VALID_S, "created_at": now, "updated_at": now}
        if not mr.add_order(conn, row):
            raise MessageRejected("conflict", "that quote key is already in use here", key)
        repo.enqueue(conn, peer, new_key(), "market.quote",
                     {"quote": row["key"], "state": row["state"], "amount": amount, "currency": row["currency"],
                      "valid_until": row["valid_until"], "reason": reason}, now)

    def apply_quote(self, conn, peer: str, key: str, body: dict[str, Any], now: float) -> None:
        if body["state"] == "QUOTED" and (body["amount"] is None or body["valid_until"] is None
                                          or not _CURRENCY.fullmatch(body["currency"])):
            raise MessageRejected("schema", "market.quote: a quote has an amount, a currency and a time limit", key)
        if not repo.inbox_claim(conn, peer, key, "market.quote", now):
            return
        o = mr.get_order(conn, body["quote"])
        if o is None or o["side"] != "buy" or o["peer_id"] != peer:
            raise MessageRejected("unknown_order", "no quote asked of your site has that key", key)
        mr.move_order(conn, o["key"], ("QUOTE_ASKED",), state=body["state"], amount=body["amount"],
                      currency=body["currency"] or o["currency"], valid_until=body["valid_until"],
                      reason=body["reason"], updated_at=now)

    def apply_rating(self, conn, peer: str, key: str, body: dict[str, Any], now: float) -> None:
        if not repo.inbox_claim(conn, peer, key, "market.rating", now):
            return
        o = mr.get_order(conn, body["order"])
        if o is None or o["side"] != "sell" or o["peer_id"] != peer or o["state"] not in ("COMPLETED", "FAILED"):
            raise MessageRejected("unknown_order", "no finished order of your site has that key", key)
        mr.move_order(conn, o["key"], ("COMPLETED", "FAILED"), rating=body["stars"], rating_note=body["note"],
                      updated_at=now)

    def apply_comment(self, conn, peer: str, key: str, body: dict[str, Any], now: float) -> None:
        if not self.shares(conn, peer, body["subject"]):
            raise MessageRejected("unknown_subject", "no offer or order shared with your site is called that", key)
        if not body["text"].strip():
            raise MessageRejected("schema", "market.comment: the text is empty", key)
        if not repo.inbox_claim(conn, peer, key, "market.comment", now):
            return
        mr.add_comment(conn, key, body["subject"], peer, body["author"], body["text"], body["at"])

    # ------------------------------------------------------------ orders ride on offloads (OrderHook)
    def check_order(self, conn, peer_id: str, order: dict[str, Any]) -> str:
        """Why the order an offload carries cannot be taken ('' when it can)."""
        q, amount, cur = order.get("quote"), order.get("amount"), order.get("currency")
        if not isinstance(q, str) or not isinstance(amount, int | float) or isinstance(amount, bool) \
                or not isinstance(cur, str) or set(order) != {"quote", "amount", "currency"}:
            return "the order must name its quote, amount and currency"
        o = mr.get_order(conn, q[:64])
        if o is None or o["side"] != "sell" or o["peer_id"] != peer_id:
            return f"no quote {q[:8]!r} of this site for yours"
        if o["state"] != "QUOTED":
            return f"quote {q[:8]} is {o['state']}; ask for a new one"
        if o["valid_until"] is not None and o["valid_until"] < self._now():
            return f"quote {q[:8]} ran out; ask for a new one"
        if cur != o["currency"] or not math.isclose(float(amount), o["amount"] or 0.0, abs_tol=0.005):
            return f"the order's price {amount} {cur[:8]} is not the quote's {o['amount']} {o['currency']}"
        return ""

    def on_offload(self, conn, o: Offload, now: float, order: dict[str, Any] | None = None) -> None:
        if order is not None:  # the seller, as the order arrives
            row = mr.get_order(conn, str(order.get("quote"))[:64])
            if row is None or row["side"] != "sell" or row["peer_id"] != o.peer_id:
                return
            if o.state == "REJECTED":
                mr.move_order(conn, row["key"], ("QUOTED",), state="REJECTED", reason=o.reason[:1000],
                              offload_key=o.key, updated_at=now)
                return
            offer = mr.get_offer(conn, self.site_id, row["offer_id"])
            lead = offer["lead_time_h"] if offer else None
            if mr.move_order(conn, row["key"], ("QUOTED",), state=o.state, offload_key=o.key, job_id=o.job_id,
                             job_name=o.name, due_at=now + lead * 3600 if lead is not None else None,
                             updated_at=now):
                mr.add_entry(conn, row, "ordered", row["amount"] or 0.0, now)
            return
        row = mr.order_for_offload(conn, o.key)
        if row is None or row["peer_id"] != o.peer_id or o.state == "PENDING":
            return
        moving = tuple({"ORDERED", "VALIDATED", "SCHEDULED", "ASSIGNED", "IN_PROGRESS", "PAUSED"} - {o.state})
        mr.move_order(conn, row["key"], moving, state=o.state, reason=o.reason[:1000], updated_at=now)
        if row["side"] == "buy" and o.state != "REJECTED":
            mr.add_entry(conn, row, "ordered", row["amount"] or 0.0, now)  # the seller took it (once)
        if o.state in UNDONE and _has_entry(conn, row["key"], "ordered"):
            mr.add_entry(conn, row, "reversed", -(row["amount"] or 0.0), now)


def _checked_offer(spec: dict[str, Any]) -> dict[str, Any]:
    """One offer as it is stored and sent (without id and version), or a ValidationError saying what is wrong."""
    if not isinstance(spec, dict):
        raise ValidationError("an offer is an object with kind, name and a price", "offers")
    kind = spec.get("kind")
    if kind not in KINDS:
        raise ValidationError(f"an offer is one of {', '.join(KINDS)}", "kind")
    name = str(spec.get("name") or "").strip()
    if not 0 < len(name) <= 200:
        raise ValidationError("an offer's name has 1 to 200 characters", "name")
    process = str(spec.get("process") or "").strip().lower()[:40]
    material = str(spec.get("material") or "").strip().lower()[:40]
    if kind == "capacity" and not process:
        raise ValidationError("capacity is offered for a process (--process fdm)", "process")
    hour, part = _price(spec.get("per_hour"), "per_hour"), _price(spec.get("per_part"), "per_part")
    if hour is None and part is None:
        raise ValidationError("give a price: --per-hour and/or --per-part", "price")
    currency = str(spec.get("currency") or "EUR").strip().upper()
    if not _CURRENCY.fullmatch(currency):
        raise ValidationError("currency is a three-letter code such as EUR", "currency")
    item = spec.get("item") or {}
    if not isinstance(item, dict) or (kind == "capacity" and item):
        raise ValidationError("only a template or playbook offer carries an item (an object)", "item")
    if len(json.dumps(item, default=str)) > MAX_ITEM_BYTES:
        raise ValidationError(f"the item is over {MAX_ITEM_BYTES // 1024} KiB; offer a smaller one", "item")
    return {"kind": kind, "name": name, "process": process, "material": material, "price_per_hour": hour,
            "price_per_part": part, "currency": currency, "lead_time_h": _price(spec.get("lead_time_h"), "lead_time_h"),
            "item": item}


def _enqueue_offers(conn, site_id: str, offers: list[dict[str, Any]], now: float) -> None:
    for i in range(0, len(offers), MAX_OFFERS):
        repo.enqueue(conn, site_id, new_key(), "market.offers", {"offers": offers[i:i + MAX_OFFERS]}, now)


def _has_entry(conn, order_key: str, entry: str) -> bool:
    import sqlalchemy as sa

    c = mr.t.market_ledger.c
    return conn.execute(sa.select(c.order_key).where(c.order_key == order_key, c.entry == entry)).first() is not None
