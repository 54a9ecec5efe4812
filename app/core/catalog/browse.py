"""The catalogue as the window browses it: this site's templates, playbooks and part files, and what linked sites
offer, searchable in one list; a template made into a mesh for its thumbnail or its preview; and the catalogue's
templates and playbooks exported to, and imported from, a single file."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.core.catalog import versions
from app.core.catalog.openscad import MAX_SCAD_BYTES, scad_params
from app.core.domain.errors import ValidationError
from app.core.jobs.validation import check_name
from app.core.store.db import Store

FORMAT = "imewe-catalogue"
MAX_BUNDLE_BYTES = 20 * 1024 * 1024
MESH_SUFFIXES = frozenset({".stl", ".obj", ".ply", ".3mf", ".glb", ".gltf"})
MAX_PARTS = 500  # part files listed (newest first)
KINDS = ("template", "playbook", "part", "offer", "order")


@dataclass(slots=True)
class CatalogueItem:
    kind: str  # template, playbook, part or offer
    name: str
    description: str = ""
    version: int | None = None
    versions: int = 1
    detail: str = ""  # one line: parameters, steps, size, or price and the offering site's record
    file: str | None = None  # a mesh to draw (parts; a template's once made)
    site: str = ""  # offers: the offering site's name
    ref: str = ""  # what actions name it by
    extra: dict[str, Any] = field(default_factory=dict)

    def matches(self, words: list[str]) -> bool:
        text = f"{self.kind} {self.name} {self.description} {self.detail} {self.site}".lower()
        return all(w in text for w in words)


OffersFn = Callable[[], Awaitable[list[dict[str, Any]]]]


class Catalogue:
    def __init__(self, store: Store, home: Path, offers: OffersFn | None = None, social: Any = None,
                 market: Any = None, jobs: Any = None, replan: Callable[[], None] | None = None) -> None:
        self.store = store
        self.home = Path(home)
        self._offers = offers
        self._social = social  # the site links (comments and presence on offers), when they run here
        self._market = market  # quotes, orders and ratings (app.core.sites.market.Market), with the jobs service
        self._jobs = jobs
        self._replan = replan or (lambda: None)

    # ------------------------------------------------------------ browsing
    async def items(self, search: str = "", kinds: tuple[str, ...] = KINDS) -> list[CatalogueItem]:
        # the templates bring the mesh library (trimesh, SciPy): loaded off the loop when the tab first lists them
        templates, playbooks = await asyncio.to_thread(_catalog_modules)
        out: list[CatalogueItem] = []
        if "template" in kinds:
            counts = await self._counts("templates")
            for t in await templates.list_templates(self.store):
                params = ", ".join(p["name"] for p in t["params"] if p["name"] not in ("process", "material",
                                                                                       "quantity"))
                out.append(CatalogueItem("template", t["name"], t["description"], t["version"],
                                         counts.get(t["name"], 1), f"{t['kind']}; parameters: {params or 'none'}",
                                         ref=t["name"], extra={"params": t["params"]}))
        if "playbook" in kinds:
            counts = await self._counts("playbooks")
            for p in await playbooks.list_playbooks(self.store):
                steps = p["definition"]["steps"]
                procs = sorted({str(s.get("process", "")) for s in steps})
                out.append(CatalogueItem("playbook", p["name"], p["description"], p["version"],
                                         counts.get(p["name"], 1), f"{len(steps)} steps: {', '.join(procs)}",
                                         ref=p["name"]))
        if "part" in kinds:
            out += await asyncio.to_thread(self._parts)
        if "offer" in kinds and self._offers is not None:
            for o in await self._offers():
                out.append(_offer_item(o))
        if "order" in kinds and self._market is not None:
            out += [_order_item(o) for o in reversed(await self._market.orders())]
        words = search.lower().split()
        return [i for i in out if i.matches(words)] if words else out

    async def _counts(self, kind: str) -> dict[str, int]:
        def read() -> dict[str, int]:
            with self.store.connect() as conn:
                counts: dict[str, int] = {}
                for r in versions.all_versions(conn, kind):
                    counts[r["name"]] = counts.get(r["name"], 0) + 1
                return counts

        return await self.store.run(read)

    def _parts(self) -> list[CatalogueItem]:
        found = []
        for folder in (self.home / "files", self.home / "received"):
            if folder.is_dir():
                found += [p for p in folder.rglob("*") if p.suffix.lower() in MESH_SUFFIXES and p.is_file()]
        found.sort(key=lambda p: p.stat().st_mtime, reverse=True)
        return [CatalogueItem("part", p.name, "received from a linked site" if "received" in p.parts else
                              "made here", detail=f"{p.stat().st_size / 1024:.0f} KiB", file=str(p), ref=str(p))
                for p in found[:MAX_PARTS]]

    async def thumbnail_file(self, item: CatalogueItem) -> str | None:
        """A mesh file to draw for the item: a part's own file, a template made with its defaults (kept in the
        home's thumbnails/ folder, so it is made once; not a part of the catalogue); None when there is nothing to
        draw."""
        if item.file:
            return item.file
        if item.kind != "template":
            return None
        templates, _ = await asyncio.to_thread(_catalog_modules)
        made = await templates.make(self.store, self.home, item.name, {}, out_dir=self.home / "thumbnails")
        item.file = made["file"]
        return item.file

    async def make(self, name: str, values: dict[str, Any]) -> dict[str, Any]:
        templates, _ = await asyncio.to_thread(_catalog_modules)
        return await templates.make(self.store, self.home, name, values)

    # ------------------------------------------------------------ comments and presence on offers and orders
    def social(self, item: CatalogueItem) -> bool:
        """Whether comments and presence work for the item (offers and orders, when the site links run here)."""
        return self._social is not None and item.kind in ("offer", "order")

    async def comments(self, item: CatalogueItem) -> list[dict[str, Any]]:
        return await self._social.market.comments(f"{item.kind}:{item.ref}") if self.social(item) else []

    async def comment(self, item: CatalogueItem, author: str, text: str) -> dict[str, Any]:
        if not self.social(item):
            raise ValidationError("comments are on offers and orders shared with linked sites")
        return await self._social.market.comment(f"{item.kind}:{item.ref}", author, text)

    async def view(self, item: CatalogueItem, who: str, viewing: bool) -> int:
        return await self._social.view(f"{item.kind}:{item.ref}", who, viewing) if self.social(item) else 0

    async def viewers(self, item: CatalogueItem) -> list[dict[str, Any]]:
        return await self._social.viewers(f"{item.kind}:{item.ref}") if self.social(item) else []

    # ------------------------------------------------------------ quotes, orders, ratings
    def can_trade(self, item: CatalogueItem) -> bool:
        return self._market is not None and self._jobs is not None and item.kind in ("offer", "order")

    async def waiting_jobs(self) -> list[tuple[str, str]]:
        """Jobs that could be sent to a linked site: (id, name), newest first."""
        if self._jobs is None:
            return []
        jobs = await self._jobs.list(limit=500)
        return [(str(j.id), j.name) for j in jobs if not j.state.terminal and not j.state.active]

    async def quote(self, item: CatalogueItem, job_id: str) -> dict[str, Any]:
        from uuid import UUID

        if not self.can_trade(item) or item.kind != "offer":
            raise ValidationError("ask for a quote on an offer from a linked site")
        return await self._market.ask_quote(item.ref, await self._jobs.get(UUID(job_id)))

    async def order(self, item: CatalogueItem) -> dict[str, Any]:
        from uuid import UUID

        o = item.extra.get("order") or {}
        if not self.can_trade(item) or item.kind != "order" or not o.get("job_id"):
            raise ValidationError("order a quote you asked for")
        placed = await self._market.order(o["key"], await self._jobs.get(UUID(o["job_id"])))
        self._replan()  # the planner lets the job go to the seller at once
        return placed

    async def rate(self, item: CatalogueItem, stars: int, note: str = "") -> dict[str, Any]:
        if not self.can_trade(item) or item.kind != "order":
            raise ValidationError("rate an order you bought")
        return await self._market.rate(item.ref, stars, note)

    # ------------------------------------------------------------ an offered template or playbook, kept here
    async def take(self, offer: dict[str, Any]) -> dict[str, Any]:
        """Add the template or playbook a linked site offers to this site's catalogue (a new version when it
        differs from what is here), checked as an imported one."""
        kind, item = offer.get("kind"), offer.get("item") or {}
        if kind == "template":
            if item.get("kind") == "built-in":
                raise ValidationError(f"{item.get('name')!r} is a built-in template: every site has it "
                                      f"(imewe templates make {item.get('name')})")
            name, desc, definition = _check_template({"name": item.get("name"), "description": item.get(
                "description", ""), "definition": {"kind": item.get("kind"), "source": item.get("source")}}, 0)
            table = "templates"
        elif kind == "playbook":
            _, playbooks = await asyncio.to_thread(_catalog_modules)
            try:
                pb = playbooks.check_playbook(_playbook_out(item))
            except (KeyError, TypeError, AttributeError) as exc:
                raise ValidationError("the offered playbook is not complete") from exc
            name, desc, definition = pb["name"], pb["description"], {k: pb[k] for k in ("priority", "parameters",
                                                                                         "steps")}
            table = "playbooks"
        else:
            raise ValidationError("only a template or playbook offer can be taken into the catalogue")

        def write() -> dict[str, Any]:
            with self.store.begin() as conn:
                return versions.save(conn, table, name, desc, definition) | {"kind": kind}

        return await self.store.run(write)

    # ------------------------------------------------------------ one file
    async def export_to(self, path: Path) -> dict[str, int]:
        def read() -> dict[str, Any]:
            with self.store.connect() as conn:
                return {"templates": versions.all_versions(conn, "templates"),
                        "playbooks": versions.all_versions(conn, "playbooks")}

        rows = await self.store.run(read)
        bundle = {"format": FORMAT, "version": 1,
                  "templates": [{"name": r["name"], "description": r["description"], "definition": r["definition"]}
                                for r in rows["templates"]],
                  "playbooks": [_playbook_out(r) for r in rows["playbooks"]]}
        text = json.dumps(bundle, indent=1, sort_keys=True)
        await asyncio.to_thread(Path(path).write_text, text, "utf-8")
        return {"templates": len(bundle["templates"]), "playbooks": len(bundle["playbooks"])}

    async def import_from(self, path: Path) -> dict[str, int]:
        """All or nothing: every item is checked before anything is written; an unchanged item adds no version."""
        bundle = await asyncio.to_thread(_read_bundle, Path(path))
        _, playbooks = await asyncio.to_thread(_catalog_modules)
        tpl = [_check_template(t, i) for i, t in enumerate(bundle["templates"])]
        pbs = []
        for i, p in enumerate(bundle["playbooks"]):
            try:
                pbs.append(playbooks.check_playbook(p))
            except ValidationError as exc:
                raise ValidationError(f"playbook {i + 1} of the file: {exc}") from exc

        def write() -> dict[str, int]:
            added = unchanged = 0
            with self.store.begin() as conn:
                for name, desc, definition in tpl:
                    r = versions.save(conn, "templates", name, desc, definition)
                    added, unchanged = added + (not r["unchanged"]), unchanged + r["unchanged"]
                for pb in pbs:
                    body = {k: pb[k] for k in ("priority", "parameters", "steps")}
                    r = versions.save(conn, "playbooks", pb["name"], pb["description"], body)
                    added, unchanged = added + (not r["unchanged"]), unchanged + r["unchanged"]
            return {"added": added, "unchanged": unchanged}

        return await self.store.run(write)


def _catalog_modules() -> tuple[Any, Any]:
    from app.core.catalog import playbooks, templates

    return templates, playbooks


def _playbook_out(r: dict[str, Any]) -> dict[str, Any]:
    """A stored playbook in the form it is written and added in (parameters by name)."""
    d = r["definition"]
    params = {p["name"]: {k: v for k, v in p.items() if k != "name"} for p in d.get("parameters", [])}
    return {"name": r["name"], "description": r["description"], "priority": d.get("priority", 5),
            "parameters": params, "steps": d["steps"]}


def _order_item(o: dict[str, Any]) -> CatalogueItem:
    amount = "-" if o["amount"] is None else f"{o['amount']:,.2f} {o['currency']}"
    side = f"bought from {o['site_name']}" if o["side"] == "buy" else f"sold to {o['site_name']}"
    rated = f"; rated {o['rating']}/5" if o["rating"] is not None else ""
    why = f" ({o['reason'][:80]})" if o["reason"] else ""
    return CatalogueItem("order", f"{o['offer_name']}: {o['job_name']}", side,
                         detail=f"{o['state'].replace('_', ' ').lower()}{why}; {amount}{rated}",
                         site=o["site_name"], ref=o["key"], extra={"order": o})


def _offer_item(o: dict[str, Any]) -> CatalogueItem:
    price = " + ".join(p for p in (
        f"{o['price_per_hour']:g} {o['currency']}/h" if o["price_per_hour"] is not None else "",
        f"{o['price_per_part']:g} {o['currency']}/part" if o["price_per_part"] is not None else "") if p)
    q = o.get("quality") or {}
    record = "no jobs sent yet" if not q or q.get("jobs_ended", 0) == 0 else (
        f"on time {q['on_time_rate'] * 100:.0f} %" if q.get("on_time_rate") is not None else "no due dates") + \
        f", failed {q['failure_rate'] * 100:.0f} %" + \
        (f", avg delay {q['avg_delay_h']:g} h" if q.get("avg_delay_h") is not None else "") + \
        (f", rated {q['rating']:g}/5" if q.get("rating") is not None else "")
    what = o["process"] + (f" in {o['material']}" if o["material"] else "") if o["kind"] == "capacity" else o["kind"]
    return CatalogueItem("offer", o["name"], what, o["version"], detail=f"{price}; {record}",
                         site=o.get("site_name", ""), ref=o["id"], extra={"quality": q, "offer": o})


def _read_bundle(path: Path) -> dict[str, Any]:
    try:
        if path.stat().st_size > MAX_BUNDLE_BYTES:
            raise ValidationError(f"{path.name} is larger than {MAX_BUNDLE_BYTES // 1_000_000} MB")
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(f"cannot read {path}: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise ValidationError(f"{path.name} is not a catalogue file (not JSON: {exc})") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("version") != 1:
        raise ValidationError(f"{path.name} is not an Imewe catalogue file (format {FORMAT}, version 1)")
    for key in ("templates", "playbooks"):
        if not isinstance(data.get(key, []), list):
            raise ValidationError(f"{path.name}: {key} must be a list")
        data.setdefault(key, [])
    return data


def _check_template(t: Any, i: int) -> tuple[str, str, dict[str, Any]]:
    where = f"template {i + 1} of the file"
    if not isinstance(t, dict) or not isinstance(t.get("definition"), dict):
        raise ValidationError(f"{where}: give name, description and definition")
    from app.core.catalog.builtin import BUILTINS

    name = check_name(t.get("name"), "template name", "name")
    if name in BUILTINS:
        raise ValidationError(f"{where}: {name!r} is a built-in template")
    source = t["definition"].get("source")
    if t["definition"].get("kind") != "openscad" or not isinstance(source, str):
        raise ValidationError(f"{where}: only OpenSCAD templates (kind openscad, with source) are imported")
    if len(source.encode("utf-8")) > MAX_SCAD_BYTES:
        raise ValidationError(f"{where}: the source is larger than {MAX_SCAD_BYTES // 1000} kB")
    desc = t.get("description", "")
    if not isinstance(desc, str) or len(desc) > 2000:
        raise ValidationError(f"{where}: description is text of at most 2000 characters")
    # the parameters are read again from the source: the file's own list is not trusted
    params = scad_params(source)
    return name, desc, {"kind": "openscad", "source": source, "params": [p.to_dict() for p in params]}
