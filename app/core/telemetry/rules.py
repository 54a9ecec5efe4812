"""Hard rules over one machine's stream of samples. Each returns findings; the alert service decides what
reaches people (dedup, rate limit).

- thermal runaway: after the heater reached its target, the temperature leaves the band around it and keeps
  diverging (heater stuck on, thermistor fallen out), or jumps far past it;
- heater that never reaches target: heating for longer than allowed, or not rising during a watch period;
- power with no progress: the machine draws working power while a job's progress stands still;
- vibration above the machine's limit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from uuid import UUID

from app.core.domain.enums import Severity


@dataclass(frozen=True, slots=True)
class Finding:
    type: str
    severity: Severity
    message: str
    metric: str


@dataclass(slots=True)
class RuleLimits:
    band_c: float = 5.0  # allowed distance from target once reached
    hard_c: float = 15.0  # beyond this distance: runaway at once
    diverge_s: float = 4.0  # outside the band and still diverging this long: runaway
    max_heatup_s: float = 600.0  # heating longer than this without reaching target
    watch_period_s: float = 30.0  # while heating, the temperature must rise ...
    watch_rise_c: float = 2.0  # ... at least this much per watch period
    # Warm-only heaters (resin vats, chambers) rise slowly by design and pose no fire risk: the rise watch
    # applies to set points above this; the heat-up timeout still covers the rest.
    watch_min_target_c: float = 45.0
    off_alarm_c: float = 50.0  # a heater commanded off that still climbs above this is stuck on
    working_power_w: float = 80.0  # above this a machine is doing something
    stall_s: float = 300.0  # progress unchanged this long while drawing working power
    vibration_limit: float | None = None  # per machine; None: no limit known


@dataclass(slots=True)
class _Heater:
    target: float = 0.0
    reached: bool = False
    heat_start: float | None = None
    watch_t: float | None = None
    watch_temp: float = 0.0
    out_since: float | None = None
    out_err: float = 0.0


@dataclass(slots=True)
class _Node:
    heater: _Heater = field(default_factory=_Heater)
    progress: float | None = None
    progress_t: float | None = None
    powered_since: float | None = None


class RuleEngine:
    def __init__(self, limits_for: Callable[[UUID], RuleLimits] | None = None) -> None:
        self._limits_for = limits_for or (lambda _n: RuleLimits())
        self._nodes: dict[UUID, _Node] = {}

    def forget(self, node_id: UUID) -> None:
        self._nodes.pop(node_id, None)

    def check(self, node_id: UUID, ts: float, m: dict[str, float]) -> list[Finding]:
        st = self._nodes.get(node_id)
        if st is None:
            st = self._nodes[node_id] = _Node()
        lim = self._limits_for(node_id)
        out: list[Finding] = []
        temp = m.get("temperature")
        if temp is not None:
            self._thermal(st.heater, ts, temp, m.get("target_temperature", st.heater.target), lim, out)
        if "progress" in m or "power_w" in m:
            self._stall(st, ts, m, lim, out)
        vib = m.get("vibration")
        if vib is not None and lim.vibration_limit is not None and vib > lim.vibration_limit:
            sev = Severity.CRITICAL if vib > 1.5 * lim.vibration_limit else Severity.WARNING
            out.append(Finding("vibration_high", sev,
                               f"vibration {vib:.2f} is above the machine's limit {lim.vibration_limit:.2f}",
                               "vibration"))
        return out

    @staticmethod
    def _thermal(h: _Heater, ts: float, temp: float, target: float, lim: RuleLimits, out: list[Finding]) -> None:
        if target != h.target:  # new set point: start watching the heat-up again
            h.target, h.reached, h.out_since = target, False, None
            h.heat_start = ts if target > temp + lim.band_c else None
            h.watch_t, h.watch_temp = ts, temp
            if h.heat_start is None and target > 0:
                h.reached = abs(temp - target) <= lim.band_c
        if target <= 0:  # heater commanded off: it must not keep heating (a MOSFET failed closed)
            if h.watch_t is None:
                h.watch_t, h.watch_temp = ts, temp
            elif ts - h.watch_t >= lim.watch_period_s:
                if temp - h.watch_temp >= 2 * lim.watch_rise_c and temp > lim.off_alarm_c:
                    out.append(Finding("heater_uncommanded", Severity.CRITICAL,
                                       f"heater is off but the temperature rose {temp - h.watch_temp:.1f} °C in "
                                       f"{ts - h.watch_t:.0f} s to {temp:.1f} °C", "temperature"))
                h.watch_t, h.watch_temp = ts, temp
            return
        err = temp - target
        if not h.reached:
            if abs(err) <= lim.band_c:
                h.reached, h.heat_start = True, None
                return
            if h.heat_start is None:
                return
            if err > lim.hard_c:
                out.append(Finding("thermal_runaway", Severity.CRITICAL,
                                   f"temperature {temp:.1f} °C overshot the target {target:.0f} °C while heating",
                                   "temperature"))
                return
            if ts - h.heat_start > lim.max_heatup_s:
                out.append(Finding("heater_timeout", Severity.CRITICAL,
                                   f"heater has not reached {target:.0f} °C in {lim.max_heatup_s:.0f} s "
                                   f"(now {temp:.1f} °C)", "temperature"))
            elif h.watch_t is not None and ts - h.watch_t >= lim.watch_period_s:
                if temp - h.watch_temp < lim.watch_rise_c and target >= lim.watch_min_target_c:
                    out.append(Finding("heater_not_heating", Severity.CRITICAL,
                                       f"temperature rose only {temp - h.watch_temp:.1f} °C in "
                                       f"{ts - h.watch_t:.0f} s towards {target:.0f} °C", "temperature"))
                h.watch_t, h.watch_temp = ts, temp
            return
        dist = abs(err)
        if dist <= lim.band_c:
            h.out_since = None
            return
        if h.out_since is None:
            h.out_since, h.out_err = ts, dist
        diverging = dist > h.out_err
        if dist > lim.hard_c or (diverging and ts - h.out_since >= lim.diverge_s):
            way = "above" if err > 0 else "below"
            out.append(Finding("thermal_runaway", Severity.CRITICAL,
                               f"thermal runaway: {temp:.1f} °C is {dist:.1f} °C {way} the target {target:.0f} °C "
                               "and diverging", "temperature"))

    @staticmethod
    def _stall(st: _Node, ts: float, m: dict[str, float], lim: RuleLimits, out: list[Finding]) -> None:
        prog = m.get("progress")
        if prog is not None and prog != st.progress:
            st.progress, st.progress_t = prog, ts
        power = m.get("power_w")
        if power is None:
            return
        # A job is running when this very sample reports progress short of done: drivers send a fraction
        # (0..1), the spec's schema a percentage (0..100); both are at rest at 0 and at their end.
        working = (power > lim.working_power_w and prog is not None and 0.0 < prog < 100.0 and prog != 1.0)
        if not working:
            st.powered_since = None
            return
        if st.powered_since is None:
            st.powered_since = ts
        since = max(st.powered_since, st.progress_t or ts)
        if ts - since >= lim.stall_s:
            out.append(Finding("stalled", Severity.WARNING,
                               f"drawing {power:.0f} W with no progress for {ts - since:.0f} s "
                               f"(stuck at {st.progress:.1f} %)", "progress"))
