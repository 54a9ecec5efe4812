"""The marketplace's changes as site operations (``imewe market publish|withdraw|quote|order|rate|take|comment``).

Like every change, they run in the site's owner when one runs (over the control channel), or in the command's own
process on the store under the site's lock when none runs (``call_site``); never beside a running owner.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from uuid import UUID

from app.core.api.jsonable import to_jsonable
from app.core.api.operations import Op, Params, SiteOps, _opt_text, _text
from app.core.auth.permissions import Action
from app.core.domain.errors import ValidationError


def _market(site: SiteOps) -> Any:
    from app.core.sites.market import Market

    return Market(site.sites_admin())


async def _catalogue_item(site: SiteOps, kind: str, name: str) -> dict[str, Any]:
    """A template's or playbook's catalogue entry, which its offer carries to the other site."""
    if kind == "template":
        from app.core.catalog import templates

        return await templates.get_template(site.kernel.store, name)
    if kind == "playbook":
        from app.core.catalog import playbooks

        return await playbooks.get(site.kernel.store, name)
    return {}


async def market_publish(site: SiteOps, p: Params) -> list[Params]:
    offers, to = p.get("offers"), p.get("to")
    if not isinstance(offers, list) or not offers:
        raise ValidationError("offers is a list of offers ({kind, name, process, material, per_hour, ...})", "offers")
    if not isinstance(to, list) or not all(isinstance(s, str) for s in to):
        raise ValidationError("to is a list of linked sites", "to")
    for n, spec in enumerate(offers):
        if not isinstance(spec, dict):
            raise ValidationError(f"offer {n + 1} is not an object", "offers")
        if spec.get("kind") in ("template", "playbook") and "item" not in spec:
            spec["item"] = await _catalogue_item(site, spec["kind"], str(spec.get("name", "")))
    return to_jsonable(await _market(site).publish_many(offers, to, actor=site.actor))


async def market_withdraw(site: SiteOps, p: Params) -> Params:
    return to_jsonable(await _market(site).withdraw(_text(p, "offer"), actor=site.actor))


async def market_quote(site: SiteOps, p: Params) -> Params:
    job = await site.jobs.find(_text(p, "job"))
    return to_jsonable(await _market(site).ask_quote(_text(p, "offer"), job, actor=site.actor))


async def market_order(site: SiteOps, p: Params) -> Params:
    """Order a quoted job: through the owner, so its planner leaves the job to the selling site at once."""
    market = _market(site)
    o = await market.find_order(_text(p, "quote"), "buy")
    if not o["job_id"]:
        raise ValidationError("that quote has no job", "quote")
    placed = await market.order(o["key"], await site.jobs.get(UUID(o["job_id"])), actor=site.actor)
    site.replan()
    return to_jsonable(placed)


async def market_rate(site: SiteOps, p: Params) -> Params:
    stars = p.get("stars")
    if not isinstance(stars, int) or isinstance(stars, bool):
        raise ValidationError("a rating is 1 to 5 stars", "stars")
    return to_jsonable(await _market(site).rate(_text(p, "order"), stars, _text(p, "note", ""), actor=site.actor))


async def market_take(site: SiteOps, p: Params) -> Params:
    from app.core.catalog.browse import Catalogue

    market = _market(site)
    offer = market.pick_offer(await market.offers(), _text(p, "offer"))
    return to_jsonable(await Catalogue(site.kernel.store, Path(site.home)).take(offer))


async def market_comment(site: SiteOps, p: Params) -> Params:
    """``author`` when given, else the person who asks, else ``login`` (the OS user of a site without people)."""
    author = _opt_text(p, "author") or getattr(site.actor, "name", None) or _text(p, "login", "someone")
    return to_jsonable(await _market(site).comment(_text(p, "item"), author, _text(p, "text")))


MARKET_OPS: tuple[Op, ...] = (
    Op("market.publish", "POST", "/market/offers", market_publish, Action.PAIR_SITES),
    Op("market.withdraw", "POST", "/market/offers/{offer}/withdraw", market_withdraw, Action.PAIR_SITES),
    Op("market.quote", "POST", "/market/offers/{offer}/quote", market_quote, Action.OFFLOAD),
    Op("market.order", "POST", "/market/quotes/{quote}/order", market_order, Action.OFFLOAD),
    Op("market.rate", "POST", "/market/orders/{order}/rate", market_rate, Action.OFFLOAD),
    Op("market.take", "POST", "/market/offers/{offer}/take", market_take, Action.SUBMIT),
    Op("market.comment", "POST", "/market/comments", market_comment, Action.OFFLOAD),
)
