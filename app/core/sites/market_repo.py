"""Store access for the marketplace between linked sites: offers, orders (with their quotes) and the ledger.
Functions take a Connection (one transaction) and hand out plain dicts; states move by compare-and-set."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from app.core.sites.repo import _upsert, dialect_insert
from app.core.store import schema_market as t
from app.core.store import schema_sites as st
from app.core.store.schema import jobs as jobs_t

OFFER_FIELDS = ("id", "kind", "name", "process", "material", "price_per_hour", "price_per_part", "currency",
                "lead_time_h", "item", "version", "withdrawn")


# ---------------------------------------------------------------- offers
def put_offer(conn: Connection, site_id: str, offer: dict[str, Any], to_sites: list[str], now: float) -> bool:
    """Keep the newest version of an offer; an older or equal one changes nothing. True if written."""
    row = {k: offer[k] for k in OFFER_FIELDS} | {"site_id": site_id, "to_sites": to_sites, "updated_at": now}
    return _upsert(conn, t.market_offers, row, ["site_id", "id"], where=t.market_offers.c.version < offer["version"])


def put_offers(conn: Connection, site_id: str, offers: list[dict[str, Any]], to_sites: list[str], now: float) -> None:
    """Many offers in one statement (a page from a linked site, a catalogue published at once); as ``put_offer``,
    an older or equal version changes nothing."""
    if not offers:
        return
    rows = [{k: o[k] for k in OFFER_FIELDS} | {"site_id": site_id, "to_sites": to_sites, "updated_at": now}
            for o in offers]
    ins = dialect_insert(conn, t.market_offers)
    c = t.market_offers.c
    stmt = ins.on_conflict_do_update(index_elements=["site_id", "id"],
                                     set_={k: ins.excluded[k] for k in rows[0] if k not in ("site_id", "id")},
                                     where=c.version < ins.excluded.version)
    conn.execute(stmt, rows)


def get_offer(conn: Connection, site_id: str, offer_id: str) -> dict[str, Any] | None:
    c = t.market_offers.c
    r = conn.execute(sa.select(t.market_offers).where(c.site_id == site_id, c.id == offer_id)).first()
    return None if r is None else dict(r._mapping)


def list_offers(conn: Connection, *, own_site: str, mine: bool, search: str = "", site_id: str | None = None,
                limit: int = 100_000, offset: int = 0, withdrawn: bool = False) -> list[dict[str, Any]]:
    """Our own offers (``mine``) or what linked sites offer us (not withdrawn unless asked), by site, kind and
    name."""
    c = t.market_offers.c
    q = sa.select(t.market_offers) if withdrawn else sa.select(t.market_offers).where(c.withdrawn.is_(False))
    q = q.where(c.site_id == own_site) if mine else q.where(c.site_id != own_site)
    if site_id:
        q = q.where(c.site_id == site_id)
    for word in search.lower().split():
        like = f"%{word.replace('%', '').replace('_', '')}%"
        q = q.where(sa.or_(sa.func.lower(c.name).like(like), sa.func.lower(c.process).like(like),
                           sa.func.lower(c.material).like(like), sa.func.lower(c.kind).like(like)))
    q = q.order_by(c.site_id, c.kind, c.name, c.id).limit(limit).offset(offset)
    return [dict(r._mapping) for r in conn.execute(q)]


# ---------------------------------------------------------------- orders
ORDER_DEFAULTS: dict[str, Any] = {"job_id": None, "job_name": "", "amount": None, "currency": "", "reason": "",
                                  "valid_until": None, "due_at": None, "offload_key": None, "rating": None,
                                  "rating_note": ""}


def add_order(conn: Connection, row: dict[str, Any]) -> bool:
    """Insert an order once: False if its key is there already."""
    ins = dialect_insert(conn, t.market_orders).values(**(ORDER_DEFAULTS | row))
    stmt = ins.on_conflict_do_nothing(index_elements=["key"]).returning(t.market_orders.c.key)
    return conn.execute(stmt).first() is not None


def get_order(conn: Connection, key: str) -> dict[str, Any] | None:
    r = conn.execute(sa.select(t.market_orders).where(t.market_orders.c.key == key)).first()
    return None if r is None else dict(r._mapping)


def order_for_offload(conn: Connection, offload_key: str) -> dict[str, Any] | None:
    r = conn.execute(sa.select(t.market_orders).where(t.market_orders.c.offload_key == offload_key)).first()
    return None if r is None else dict(r._mapping)


def move_order(conn: Connection, key: str, from_states: tuple[str, ...], **values: Any) -> bool:
    """Compare-and-set: write ``values`` only while the order is in one of ``from_states``."""
    c = t.market_orders.c
    res = conn.execute(t.market_orders.update().where(c.key == key, c.state.in_(from_states)).values(**values))
    return res.rowcount == 1


def list_orders(conn: Connection, side: str | None = None) -> list[dict[str, Any]]:
    q = sa.select(t.market_orders).order_by(t.market_orders.c.created_at)
    if side:
        q = q.where(t.market_orders.c.side == side)
    return [dict(r._mapping) for r in conn.execute(q)]


# ---------------------------------------------------------------- ledger
def add_entry(conn: Connection, order: dict[str, Any], entry: str, amount: float, now: float) -> bool:
    """One ledger entry per order and event, written once whoever writes it twice."""
    ins = dialect_insert(conn, t.market_ledger).values(
        order_key=order["key"], entry=entry, side=order["side"], peer_id=order["peer_id"], amount=amount,
        currency=order["currency"], at=now)
    stmt = ins.on_conflict_do_nothing(index_elements=["order_key", "entry"]).returning(t.market_ledger.c.order_key)
    return conn.execute(stmt).first() is not None


def ledger(conn: Connection) -> list[dict[str, Any]]:
    lc, oc = t.market_ledger.c, t.market_orders.c
    q = (sa.select(lc.at, lc.order_key, lc.entry, lc.side, lc.peer_id, lc.amount, lc.currency, oc.offer_name,
                   oc.job_name)
         .select_from(t.market_ledger.outerjoin(t.market_orders, oc.key == lc.order_key))
         .order_by(lc.at, lc.order_key, lc.entry))
    return [dict(r._mapping) for r in conn.execute(q)]


# ---------------------------------------------------------------- quality of each linked site
def offload_history(conn: Connection) -> list[dict[str, Any]]:
    """The jobs we sent to linked sites, with when each ended and when it was due (the job's due time, else the
    order's promised time)."""
    oc, jc, mc = st.site_offloads.c, jobs_t.c, t.market_orders.c
    q = (sa.select(oc.peer_id, oc.state, oc.updated_at, jc.due_at, mc.due_at.label("order_due"), mc.rating)
         .select_from(st.site_offloads.outerjoin(jobs_t, jc.id == oc.job_id)
                      .outerjoin(t.market_orders, mc.offload_key == oc.key))
         .where(oc.direction == "out"))
    return [dict(r._mapping) for r in conn.execute(q)]


# ---------------------------------------------------------------- comments on offers and orders
def add_comment(conn: Connection, key: str, subject: str, site_id: str, author: str, text: str, at: float) -> bool:
    ins = dialect_insert(conn, t.market_comments).values(key=key, subject=subject, site_id=site_id, author=author,
                                                         text=text, at=at)
    stmt = ins.on_conflict_do_nothing(index_elements=["key"]).returning(t.market_comments.c.key)
    return conn.execute(stmt).first() is not None


def comments(conn: Connection, subject: str) -> list[dict[str, Any]]:
    c = t.market_comments.c
    q = sa.select(t.market_comments).where(c.subject == subject).order_by(c.at, c.key)
    return [dict(r._mapping) for r in conn.execute(q)]


def offer_by_id(conn: Connection, offer_id: str) -> list[dict[str, Any]]:
    c = t.market_offers.c
    return [dict(r._mapping) for r in conn.execute(sa.select(t.market_offers).where(c.id == offer_id))]
