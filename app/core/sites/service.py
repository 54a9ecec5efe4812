"""The site-link service: listens for linked sites, dials the ones it knows, keeps each link healthy, sends the
persistent outbox, and applies what linked sites send. A kernel service (``name``, ``start``, ``stop``,
``health``)."""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from websockets.asyncio.server import Server, ServerConnection
from websockets.exceptions import ConnectionClosed, WebSocketException

from app.core.bus import EventBus
from app.core.clock import Clock
from app.core.domain.entities import Node
from app.core.domain.errors import ImeweError, StoreError
from app.core.events import StateChanged
from app.core.jobs.service import JobService
from app.core.sites import repo, tls
from app.core.sites.admin import SiteAdmin
from app.core.sites.config import SitesConfig
from app.core.sites.dp import PrivacyLedger
from app.core.sites.errors import MessageRejected, PeerRefused
from app.core.sites.events import SiteFound, SiteLinkChanged, SitePeerRefused
from app.core.sites.files import CHUNKS_KEPT_S, prune_chunks
from app.core.sites.handlers import handle
from app.core.sites.identity import SiteIdentity
from app.core.sites.link import Gate, Link, TlsAccept, dial_link, listen, say_hello
from app.core.sites.links import LinkState
from app.core.sites.market import Market
from app.core.sites.offload import OffloadEngine
from app.core.sites.presence import Presence
from app.core.sites.protocol import SUPPORTED_VERSIONS
from app.core.sites.repo import ALLOWED, REVOKED, Peer
from app.core.sites.site_id import short_id
from app.core.sites.summary import Location, SummaryMaker, SummarySources
from app.core.sites.views import SiteView, site_views
from app.core.store.db import Store

log = logging.getLogger(__name__)
LEARNING_PERIOD_S = 86_400.0  # learned correction statistics move slowly: one draw a day



class SitesService:
    name = "sites"

    def __init__(self, store: Store, bus: EventBus, clock: Clock, identity: SiteIdentity, jobs: JobService,
                 nodes: Callable[[], list[Node]], config: SitesConfig | None = None,
                 sources: SummarySources | None = None, noise_seed: int | None = None,
                 files_dir: Path | None = None) -> None:
        self.store, self.bus, self.clock, self.identity = store, bus, clock, identity
        self.config = config or SitesConfig()
        self.admin = SiteAdmin(store, clock, identity, on_change=self._changed)
        # part files received with offloads: in the home's received/ folder (the keys folder's sibling)
        self.engine = OffloadEngine(store, bus, clock, jobs, files_dir or identity.key_path.parent.parent / "received")
        self.market = Market(self.admin)
        self.engine.orders = self.market  # orders ride on offloads: checked and recorded in their transactions
        self.presence = Presence(self._send_now)
        ledger = PrivacyLedger(self.config.epsilon, self.config.privacy_period_s, self.config.epsilon_per_day,
                               noise_seed)
        where = self.config.lat_lon()
        # learned correction statistics (issue 15): drawn once a day, only for the links opted in for them
        learning_ledger = PrivacyLedger(self.config.epsilon, LEARNING_PERIOD_S, self.config.epsilon_per_day,
                                        None if noise_seed is None else noise_seed + 1)
        self.summaries = SummaryMaker(store, clock, sources or SummarySources(nodes), ledger,
                                      Location(*where, self.config.location_radius_m) if where else None,
                                      learning_ledger, self.shares_learning)
        self.port: int = self.config.port
        self._peers: dict[str, Peer] = {}
        self.links = LinkState()
        self._dialers: dict[str, asyncio.Task] = {}
        self._tasks: list[asyncio.Task] = []
        self._refusal_logged: dict[str, float] = {}
        self._server: Server | None = None
        self._ctx: ssl.SSLContext | None = None
        self._dirty = asyncio.Event()
        self._reconcile_soon = asyncio.Event()
        self._mirror_soon = False
        self._discovery: Any = None
        self._health = "stopped"

    # ------------------------------------------------------------ life cycle
    async def start(self) -> None:
        await self._reload()
        self.tls_accept = TlsAccept(tls.server_context(self.identity, self._link_context))
        listening = ""
        try:
            self._server = await listen(self._gate().handle, self.config.host, self.config.port, self.tls_accept)
            self.port = self._server.sockets[0].getsockname()[1]
        except OSError as exc:  # the port is taken (another site, another program): the rest of the site runs
            self._server, self.port = None, 0
            listening = (f"degraded: other sites cannot dial in: {self.config.host}:{self.config.port} is not "
                         f"free ({exc.strerror or exc}); links this site dials still work; set [sites] port")
            log.warning("sites: %s", listening)
        self.bus.subscribe(StateChanged, self._on_state_changed, name="sites", maxsize=100_000)
        self.bus.subscribe(SiteFound, self._on_found, name="sites-lan")
        self._tasks += [asyncio.create_task(self._supervise(), name="sites:supervise"),
                        asyncio.create_task(self._reconciler(), name="sites:reconcile")]
        await self.engine.mirror_all()
        gone = await self.admin.write_quiet(prune_chunks, self.clock.now().timestamp() - CHUNKS_KEPT_S)
        if gone:
            log.info("forgot %d pieces of part files whose job never came", gone)
        if self.config.discovery and self.port:
            from app.core.sites.discovery import SiteDiscovery

            self._discovery = SiteDiscovery(self.identity.site_id, self.config.name, self.port, self.bus,
                                            self.config.interfaces)
            await self._discovery.start()
        self._health = listening or "ok"
        if self.port:
            log.info("site %s listening on port %d", short_id(self.identity.site_id), self.port)

    async def stop(self) -> None:
        self._health = "stopped"
        if self._discovery is not None:
            await self._discovery.stop()
        for t in [*self._tasks, *self._dialers.values()]:
            t.cancel()
        for link in self.links.all():
            await link.close(1001, "site shutting down")
        if self._server is not None:
            self._server.close()
            await self.tls_accept.close()
            await self._server.wait_closed()
        for t in [*self._tasks, *self._dialers.values()]:
            try:
                await t
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - stopping either way
                pass
        self._tasks.clear()
        self._dialers.clear()

    def health(self) -> str:
        return self._health

    def shares_learning(self, peer_id: str) -> bool:
        peer = self._peers.get(peer_id)
        return self.config.shares_learning(peer_id, peer.name if peer is not None else "")

    # ------------------------------------------------------------ allow list in memory
    def _changed(self) -> None:
        self._dirty.set()
        self.links.wake_all()

    async def _reload(self) -> None:
        self._peers = {p.site_id: p for p in await self.admin.peers()}
        self._ctx = None

    def _link_context(self) -> ssl.SSLContext:
        if self._ctx is None:
            certs = [p.cert_der for p in self._peers.values() if p.state == ALLOWED and p.cert_der]
            self._ctx = tls.server_link_context(self.identity, certs)
        return self._ctx

    async def _supervise(self) -> None:
        """Follows allow-list changes: dial new sites, drop revoked ones; a periodic sweep on the side."""
        while True:
            try:
                await asyncio.wait_for(self._dirty.wait(), self.config.heartbeat_s)
            except TimeoutError:
                self._reconcile_soon.set()
                self._mirror_soon = True
            self._dirty.clear()
            await self._reload()
            for link in self.links.all():
                sid = link.peer_id
                if self._peers.get(sid) is None or self._peers[sid].state != ALLOWED:
                    await link.close(4403, "revoked")
            for sid, p in self._peers.items():
                dialable = p.state == ALLOWED and bool(p.address or self.links.lan_address(sid))
                running = sid in self._dialers and not self._dialers[sid].done()
                if dialable and not running:
                    self._dialers[sid] = asyncio.create_task(self._dial_loop(sid), name=f"sites:dial:{sid[:7]}")

    # ------------------------------------------------------------ being dialed
    def _gate(self) -> Gate:
        return Gate(admit=self._admit, run=self._run_inbound)

    async def _admit(self, site_id: str, cert: bytes | None, name: str, host: str = "") -> tuple[bool, str]:
        peer = self._peers.get(site_id)
        if peer is not None and peer.state == ALLOWED:
            if cert is not None and peer.cert_der != cert:
                await self.admin.write_quiet(repo.update_peer, site_id, cert_der=cert)
                peer.cert_der = cert
                self._ctx = None
            if cert is None and not peer.cert_der:
                return await self._refuse(site_id, "say hello first", name)
            return True, ""
        reason = "revoked by this site" if peer is not None and peer.state == REVOKED else \
            f"not accepted yet; the admin of site {short_id(self.identity.site_id)} must accept your ID"
        return await self._refuse(site_id, reason, name, cert, host)

    async def _refuse(self, site_id: str, reason: str, name: str, cert: bytes | None = None,
                      host: str = "") -> tuple[bool, str]:
        log.warning("refused site %s (%s) from %s: %s", short_id(site_id), name or "?", host or "?", reason)
        self.bus.publish(SitePeerRefused(site_id, reason))
        now = time.monotonic()
        # Record at most one refusal per site every few seconds: a site hammering us cannot flood the store.
        if now - self._refusal_logged.get(site_id, -1e9) > 5.0:
            self._refusal_logged[site_id] = now

            def write(conn) -> None:
                p = repo.record_attempt(conn, site_id, self.clock.now().timestamp(), reason, name, host)
                if p is not None and cert is not None and p.cert_der is None:
                    repo.update_peer(conn, site_id, cert_der=cert)

            try:
                await self.admin.write(write)
            except StoreError:
                log.exception("cannot record the refused site")
        return False, reason

    async def _run_inbound(self, ws: ServerConnection, site_id: str) -> None:
        await self._run_link(Link(ws, site_id, site_id, self.config.rate_per_s, self.config.burst))

    # ------------------------------------------------------------ dialing
    def _backoff(self, attempt: int) -> float:
        cap = min(self.config.backoff_max_s, self.config.backoff_base_s * 2 ** min(attempt, 20))
        return cap / 2 + random.uniform(0, cap / 2)  # jitter: linked sites do not retry in lockstep

    async def _dial_loop(self, site_id: str) -> None:
        attempt = 0
        while True:
            peer = self._peers.get(site_id)
            address = peer and (peer.address or self.links.lan_address(site_id))
            if peer is None or peer.state != ALLOWED or not address:
                return
            link = self.links.live(site_id)
            if link is not None:
                await link.ws.wait_closed()
                attempt = 0
                continue
            try:
                cert, reply = await say_hello(self.identity, self.config.name, address, site_id)
                if peer.cert_der != cert:
                    await self.admin.write_quiet(repo.update_peer, site_id, cert_der=cert)
                    peer.cert_der = cert
                if not reply.get("ok"):
                    raise PeerRefused(f"site {peer.name} refused: {str(reply.get('reason'))[:200]}")
                ws = await dial_link(self.identity, address, cert, site_id)
                attempt = 0
                self.links.set_error(site_id, None)
                await self._run_link(Link(ws, site_id, self.identity.site_id, self.config.rate_per_s,
                                          self.config.burst))
            except asyncio.CancelledError:
                raise
            except (PeerRefused, OSError, WebSocketException, TimeoutError, ssl.SSLError) as exc:
                self._note_error(site_id, f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(self._backoff(attempt))
            attempt += 1

    def _note_error(self, site_id: str, error: str) -> None:
        log.info("link to site %s: %s", short_id(site_id), error)
        self.links.set_error(site_id, error)

    # ------------------------------------------------------------ a live link
    def _keep(self, new: Link) -> bool:
        kept, old = self.links.keep(new, self.identity.site_id)
        if old is not None:
            asyncio.create_task(old.close(4409, "duplicate link"))
        return kept

    async def _run_link(self, link: Link) -> None:
        if not self._keep(link):
            await link.close(4409, "duplicate link")
            return
        peer_id = link.peer_id
        self.bus.publish(SiteLinkChanged(peer_id, True))
        log.info("linked with site %s", short_id(peer_id))
        tasks: list[asyncio.Task] = []
        try:
            await link.send("hello", {"name": self.config.name[:200], "versions": sorted(SUPPORTED_VERSIONS)})
            tasks = [asyncio.create_task(self._pump(link), name=f"sites:pump:{peer_id[:7]}"),
                     asyncio.create_task(self._heartbeat(link), name=f"sites:beat:{peer_id[:7]}")]
            link.tasks = tasks
            for t in tasks:
                t.add_done_callback(_log_failure)
            async for data in link.ws:
                await self._receive(link, data)
        except ConnectionClosed:
            pass
        finally:
            for t in tasks:
                t.cancel()
            if self.links.drop(link):
                self.bus.publish(SiteLinkChanged(peer_id, False))
                await self._persist_health(link)

    async def _persist_health(self, link: Link) -> None:
        seen = self.clock.now().timestamp() - (time.monotonic() - link.last_seen)
        try:
            await self.admin.write_quiet(repo.update_peer, link.peer_id, last_seen=seen, latency_ms=link.latency_ms)
        except StoreError:
            log.exception("cannot store the link health of site %s", short_id(link.peer_id))

    async def _receive(self, link: Link, data: str | bytes) -> None:
        link.last_seen = now = time.monotonic()
        try:
            msg = link.session.accept(data, now)
        except MessageRejected as exc:
            log.info("site %s sent a bad message: %s", short_id(link.peer_id), exc)
            await link.reject(exc)
            return
        try:
            await handle(self, link, msg)
        except MessageRejected as exc:
            await link.reject(exc)
        except (StoreError, ImeweError) as exc:
            log.exception("cannot apply %s from site %s", msg.type, short_id(link.peer_id))
            await link.reject(MessageRejected("retry" if isinstance(exc, StoreError) else "failed", str(exc),
                                              msg.key))
        except (ConnectionClosed, asyncio.CancelledError):
            raise
        except Exception as exc:  # a bug in a handler must not take the link down; it is logged in full
            log.exception("failed on %s from site %s", msg.type, short_id(link.peer_id))
            await link.reject(MessageRejected("retry", f"internal error: {type(exc).__name__}", msg.key))

    # ------------------------------------------------------------ sending
    def wake(self, peer_id: str) -> None:
        self.links.wake(peer_id)

    async def _pump(self, link: Link) -> None:
        """Send the outbox in order; resend what is not acknowledged in time, on this link or the next."""
        wake = self.links.wake_event(link.peer_id)
        in_flight = self.links.in_flight(link.peer_id)
        await self.send_summary(link)
        while link.open:
            wake.clear()
            items = await self.store.run(self._pending, link.peer_id)
            now = time.monotonic()
            first_sent: dict[str, float] = link.first_sent
            for it in items:
                sent = in_flight.get(it.key)
                if sent is None or now - sent > self.config.retry_s:
                    in_flight[it.key] = now
                    first_sent.setdefault(it.key, now)
                    await link.send(it.type, it.body, it.key)
            oldest = min((first_sent[it.key] for it in items if it.key in first_sent), default=now)
            if now - oldest > 5 * self.config.retry_s:
                # Sent again and again and never acknowledged: this link is stuck somewhere; start afresh.
                log.warning("site %s acknowledges nothing; restarting the link", short_id(link.peer_id))
                await link.close(1011, "no acknowledgements")
                return
            try:
                await asyncio.wait_for(wake.wait(), min(self.config.retry_s, 1.0))
            except TimeoutError:
                pass

    def _pending(self, peer_id: str) -> list[repo.OutboxItem]:
        with self.store.connect() as conn:
            return repo.pending_outbox(conn, peer_id, self.config.window)

    async def _heartbeat(self, link: Link) -> None:
        last_summary = time.monotonic()
        while link.open:
            await asyncio.sleep(self.config.heartbeat_s)
            if time.monotonic() - link.last_seen > self.config.dead_after_s:
                log.warning("site %s went silent; dropping the link", short_id(link.peer_id))
                await link.close(1011, "no heartbeat")
                return
            await link.send("ping", {"t": time.monotonic()})
            if time.monotonic() - last_summary >= self.config.summary_s:
                last_summary = time.monotonic()
                await self.send_summary(link)
            await self._persist_health(link)

    async def send_summary(self, link: Link) -> None:
        await link.send("summary", await self.summaries.make(link.peer_id))

    # ------------------------------------------------------------ jobs that change here
    async def _on_state_changed(self, event: StateChanged) -> None:
        change = event.change
        if change.kind not in ("job", "part"):
            return
        self._reconcile_soon.set()
        if change.kind == "job" and change.to_state == "CANCELLED":
            # The cancel itself is already in the outbox (written with the job's change, ``follow``): send it now.
            self._changed()

    async def _reconciler(self) -> None:
        while True:
            await self._reconcile_soon.wait()
            await asyncio.sleep(0.02)  # gather a burst of changes into one pass
            self._reconcile_soon.clear()
            try:
                if await self.engine.reconcile():
                    self._changed()
                if self._mirror_soon:
                    self._mirror_soon = False
                    await self.engine.mirror_all()
            except ImeweError:
                log.exception("cannot send job statuses to linked sites")

    async def _on_found(self, event: SiteFound) -> None:
        if event.site_id != self.identity.site_id and self.links.set_lan_address(event.site_id, event.address):
            self._dirty.set()

    async def _send_now(self, site_id: str, body: dict[str, Any]) -> bool:
        """A presence note on the live link to ``site_id``, if there is one (never queued: it is only true now)."""
        link = self.links.live(site_id)
        if link is None:
            return False
        try:
            await link.send("presence", body)
        except ConnectionClosed:
            return False
        return True

    async def view(self, ref: str, who: str, viewing: bool = True) -> int:
        """Tell the sites that share an offer or order that ``who`` is looking at it here (or stopped)."""
        subject = await self.market.subject_of(ref)
        peers = await self.admin.read(self.market.subject_peers, subject)
        return await self.presence.announce(subject, peers, who, viewing)

    async def viewers(self, ref: str) -> list[dict[str, Any]]:
        """Who looks at an offer or order right now at a linked site."""
        subject = await self.market.subject_of(ref)
        names = {p.site_id: p.name for p in await self.admin.peers()}
        return [{"site_id": sid, "site_name": names.get(sid, sid[:7]), "who": who, "seconds_ago": ago}
                for sid, who, ago in self.presence.viewers(subject)]

    # ------------------------------------------------------------ what the UI and the CLI read
    def link(self, site_id: str) -> Link | None:
        return self.links.live(site_id)

    async def views(self) -> list[SiteView]:
        return await site_views(self)

def _log_failure(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None and \
            not isinstance(task.exception(), ConnectionClosed):
        log.error("%s stopped: %r", task.get_name(), task.exception())
