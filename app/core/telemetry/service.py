"""The telemetry service: samples from the bus go to the live buffers, the batched writer, the detectors and
the rules; findings become alerts. Retention runs in the background."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from app.core.bus import EventBus, Overflow, Subscription
from app.core.clock import Clock
from app.core.domain.entities import TelemetrySample
from app.core.domain.enums import Severity
from app.core.domain.errors import ConfigError, StoreError
from app.core.events import FaultReported, NodeUpdated, TelemetryReceived
from app.core.store.db import Store
from app.core.telemetry.alerts import AlertService
from app.core.telemetry.detectors import EwmaZ, RobustZ
from app.core.telemetry.materials import MaterialMonitor
from app.core.telemetry.repository import PruneResult, TelemetryRepo
from app.core.telemetry.ring import LiveBuffers
from app.core.telemetry.rules import Finding, RuleEngine, RuleLimits
from app.core.telemetry.writer import BatchedWriter

log = logging.getLogger(__name__)
DAY_S = 86400.0
DETECTORS: dict[str, Callable[[], EwmaZ | RobustZ]] = {"ewma": EwmaZ, "robust": RobustZ}


@dataclass(slots=True)
class TelemetrySettings:
    """From ``[telemetry]`` (keys declared in ``app.core.config.SCHEMA``): raw_hours, rollup_days, ring_capacity,
    flush_interval_s, detector, detector_metrics, reorder_thresholds (material -> amount), reorder_default, and
    ``[telemetry.rules]`` (RuleLimits fields, e.g. vibration_limit = 8.0, stall_s = 300)."""

    raw_keep_s: float = DAY_S
    rollup_keep_s: float = 90 * DAY_S
    ring_capacity: int = 600
    flush_interval_s: float = 1.0  # wall seconds between batches
    batch_size: int = 5000
    prune_every_s: float = 3600.0  # simulated seconds between retention passes
    detector: str = "ewma"  # ewma: cheap and quick to follow; robust: rolling median/MAD, unmoved by outliers
    detector_metrics: tuple[str, ...] = ("vibration", "quality_score")
    material_thresholds: dict[str, float] = field(default_factory=dict)
    material_default: float = 100.0
    limits: RuleLimits = field(default_factory=RuleLimits)  # every machine's, unless limits_for says otherwise

    @classmethod
    def from_config(cls, section: dict[str, Any]) -> TelemetrySettings:
        s = cls()
        try:
            s.raw_keep_s = float(section.get("raw_hours", s.raw_keep_s / 3600)) * 3600
            s.rollup_keep_s = float(section.get("rollup_days", s.rollup_keep_s / DAY_S)) * DAY_S
            s.ring_capacity = int(section.get("ring_capacity", s.ring_capacity))
            s.flush_interval_s = float(section.get("flush_interval_s", s.flush_interval_s))
            s.detector_metrics = tuple(section.get("detector_metrics", s.detector_metrics))
            s.detector = str(section.get("detector", s.detector))
            s.material_thresholds = {str(k): float(v) for k, v in section.get("reorder_thresholds", {}).items()}
            s.material_default = float(section.get("reorder_default", s.material_default))
            rules = section.get("rules", {})
            known = set(RuleLimits.__dataclass_fields__)
            unknown = set(rules) - known
            if unknown:
                raise ConfigError(f"[telemetry.rules] has unknown keys {sorted(unknown)}; known: {sorted(known)}")
            s.limits = RuleLimits(**{k: (None if v is None else float(v)) for k, v in rules.items()})
        except (TypeError, ValueError, AttributeError) as exc:
            raise ConfigError(f"[telemetry] in the config file has a bad value: {exc}") from exc
        if s.detector not in DETECTORS:
            raise ConfigError(f"[telemetry] detector {s.detector!r} is not one of {', '.join(DETECTORS)}")
        if s.raw_keep_s <= 0 or s.rollup_keep_s < s.raw_keep_s or s.ring_capacity < 2:
            raise ConfigError("[telemetry]: keep raw data > 0 h, rollups at least as long, ring_capacity >= 2")
        return s


class TelemetryService:
    name = "telemetry"

    def __init__(self, store: Store, bus: EventBus, clock: Clock, settings: TelemetrySettings | None = None, *,
                 limits_for: Callable[[UUID], RuleLimits] | None = None,
                 materials_of: Callable[[UUID], dict[str, float]] | None = None,
                 loaded_of: Callable[[UUID], tuple[str, str]] | None = None) -> None:
        self.store, self.bus, self.clock = store, bus, clock
        self.settings = settings or TelemetrySettings()
        self.buffers = LiveBuffers(self.settings.ring_capacity)
        self.writer = BatchedWriter(store, batch_size=self.settings.batch_size)
        self.repo = TelemetryRepo()
        self.alerts = AlertService(store, bus, clock)
        self.rules = RuleEngine(limits_for or (lambda _n: self.settings.limits))
        self.materials = MaterialMonitor(dict(self.settings.material_thresholds), self.settings.material_default)
        self._materials_of = materials_of
        # a machine's (name, loaded material) so a low-material alert names both, as the operator knows them
        self._loaded_of = loaded_of or (lambda _n: ("", "loaded material"))
        self._detectors: dict[tuple[UUID, str], EwmaZ | RobustZ] = {}
        self._node_str: dict[UUID, str] = {}
        self._subs: list[Subscription] = []
        self._tasks: list[asyncio.Task] = []
        self._last_prune: float | None = None
        self.samples = 0

    # ------------------------------------------------------------------ kernel service
    async def start(self) -> None:
        await self.alerts.load_open()
        # A big queue and drop-newest: a burst is absorbed, and what the writer already has is never replaced.
        self._subs.append(self.bus.subscribe(TelemetryReceived, self._on_telemetry, name="telemetry",
                                             maxsize=500_000, overflow=Overflow.DROP_NEWEST))
        self._subs.append(self.bus.subscribe(FaultReported, self._on_fault, name="telemetry.faults"))
        if self._materials_of is not None:
            self._subs.append(self.bus.subscribe(NodeUpdated, self._on_node_updated, name="telemetry.materials"))
        self._tasks.append(asyncio.get_running_loop().create_task(self._flush_loop(), name="telemetry.flush"))

    async def stop(self) -> None:
        for sub in self._subs:
            self.bus.unsubscribe(sub)
        self._subs.clear()
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self.writer.flush(final=True)

    def health(self) -> str:
        st = self.writer.stats
        if st.dropped:
            return f"degraded: {st.dropped} samples dropped (store too slow)"
        if st.last_error and st.failures:
            return f"degraded: {st.last_error}"
        return "ok"

    async def _on_fault(self, ev: FaultReported) -> None:
        await self.alerts.raise_alert(ev.source, ev.kind, ev.severity, ev.message, node_id=ev.node_id, key=ev.key)

    # ------------------------------------------------------------------ ingest
    def ingest(self, sample: TelemetrySample) -> list[Finding]:
        """Synchronous part of handling one sample: buffers, writer, detectors and rules."""
        node = sample.node_id
        ts = sample.timestamp.timestamp()
        m = sample.metrics
        node_s = self._node_str.get(node)
        if node_s is None:
            node_s = self._node_str[node] = str(node)
        self.buffers.add(node, ts, m)
        self.writer.add_sample(node_s, ts, m, str(sample.job_id) if sample.job_id else None)
        self.samples += 1
        findings = self.rules.check(node, ts, m)
        for metric in self.settings.detector_metrics:
            value = m.get(metric)
            if value is None:
                continue
            det = self._detectors.get((node, metric))
            if det is None:
                det = self._detectors[(node, metric)] = DETECTORS[self.settings.detector]()
            verdict = det.update(value)
            # Only a rise is a warning sign: a drop (a spindle stopping, a job ending) is the machine at rest.
            if verdict is not None and verdict.score > 0:
                findings.append(Finding("anomaly", Severity.WARNING, f"{metric} {value:.3g} is unusual "
                                        f"(z = {verdict.score:.1f} from a baseline of {verdict.baseline:.3g})",
                                        metric))
        left = m.get("material_remaining")
        if left is not None:
            name, material = self._loaded_of(node)
            findings.extend(self.materials.check(node, {material: left}, name))
        return findings

    async def handle(self, sample: TelemetrySample) -> None:
        for f in self.ingest(sample):
            await self.alerts.raise_alert(str(sample.node_id), f.type, f.severity, f.message,
                                          node_id=sample.node_id, at=sample.timestamp, key=f.metric)

    async def _on_telemetry(self, event: TelemetryReceived) -> None:
        await self.handle(event.sample)
        if self.writer.pending >= self.settings.batch_size * 4:
            await self.writer.flush()

    async def _on_node_updated(self, event: NodeUpdated) -> None:
        if self._materials_of is None or (event.what and "material" not in event.what):
            return
        name, _material = self._loaded_of(event.node_id)
        for f in self.materials.check(event.node_id, self._materials_of(event.node_id), name):
            await self.alerts.raise_alert(str(event.node_id), f.type, f.severity, f.message,
                                          node_id=event.node_id, key=f.metric)

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.flush_interval_s)
            try:
                await self.writer.flush()
                now = self.clock.now().timestamp()
                if self._last_prune is None or now - self._last_prune >= self.settings.prune_every_s:
                    self._last_prune = now
                    await self.prune()
            except StoreError as exc:
                log.error("telemetry write failed, will retry: %s", exc)

    # ------------------------------------------------------------------ retention
    async def prune(self, now: float | None = None, slice_s: float = 600.0) -> PruneResult:
        """Retention in slices of ``slice_s`` of data, one transaction each, so the samples arriving meanwhile
        are written between slices instead of waiting behind one huge delete."""
        now = self.clock.now().timestamp() if now is None else now
        s = self.settings
        raw_before, roll_before = now - s.raw_keep_s, now - s.rollup_keep_s

        def oldest() -> float | None:
            with self.store.connect() as conn:
                return self.repo.time_range(conn)[0]

        lo = await self.store.run(oldest)
        raw_n = 0
        cut = lo
        while cut is not None and cut < raw_before:
            cut = min(cut + slice_s, raw_before)
            raw_n += (await self.store.run(self.prune_sync, cut, None)).raw_deleted
        roll = await self.store.run(self.prune_sync, raw_before, roll_before)
        res = PruneResult(raw_n + roll.raw_deleted, roll.rollups_deleted)
        if res.raw_deleted or res.rollups_deleted:
            log.info("pruned %d raw samples and %d rollups", res.raw_deleted, res.rollups_deleted)
        return res

    def prune_sync(self, raw_before: float, rollups_before: float | None) -> PruneResult:
        with self.store.begin() as conn:
            return self.repo.prune(conn, raw_before, rollups_before)
