"""Moonraker (Klipper's API server) messages → ``MachineReport``, and its JSON-RPC 2.0 framing (sans-I/O).

Follows Moonraker's API documentation (moonraker.readthedocs.io: "Websocket API", "Printer Administration",
"Printer Status" and Klipper's "Status reference" for ``print_stats``, ``virtual_sdcard``, ``display_status``,
``extruder``, ``heater_bed`` and ``webhooks``).
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from typing import Any

from app.devices.network.errors import BadReply
from app.devices.network.numbers import number
from app.devices.network.report import MachinePhase, MachineReport

P = MachinePhase
SUBSCRIBE = {"print_stats": None, "virtual_sdcard": None, "display_status": None, "extruder": None,
             "heater_bed": None, "webhooks": None, "toolhead": ["position"]}
_PRINT_STATS = {"standby": P.IDLE, "printing": P.PRINTING, "paused": P.PAUSED, "complete": P.FINISHED,
                "cancelled": P.CANCELLED, "error": P.FAILED}
ESTOP_AFTER = ("Klipper shut down at once (heaters and motors off); it needs a FIRMWARE_RESTART before the next "
               "job")


class JsonRpc:
    """Request ids and framing for one websocket."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)

    def request(self, method: str, params: dict[str, Any] | None = None) -> tuple[int, str]:
        req_id = next(self._ids)
        msg: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "id": req_id}
        if params is not None:
            msg["params"] = params
        return req_id, json.dumps(msg)


@dataclass(frozen=True, slots=True)
class RpcReply:
    id: int
    result: Any = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class RpcNotice:
    method: str
    params: list[Any] = field(default_factory=list)


def decode(raw: str | bytes) -> RpcReply | RpcNotice:
    try:
        msg = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadReply(f"Moonraker sent something that is not JSON ({str(raw)[:40]!r})") from exc
    if not isinstance(msg, dict):
        raise BadReply(f"Moonraker sent a {type(msg).__name__}, not a JSON-RPC object")
    if "method" in msg:
        params = msg.get("params")
        return RpcNotice(str(msg["method"]), params if isinstance(params, list) else [])
    if "id" not in msg or not isinstance(msg["id"], int):
        raise BadReply("Moonraker sent a JSON-RPC reply without an id")
    err = msg.get("error")
    if err is not None:
        text = err.get("message") if isinstance(err, dict) else str(err)
        return RpcReply(msg["id"], error=str(text or "error"))
    return RpcReply(msg["id"], msg.get("result"))



@dataclass(slots=True)
class MoonrakerState:
    """The printer objects as Klipper last reported them (a subscription sends only what changed)."""

    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    klippy: str = "ready"  # Moonraker's klippy_state: ready, startup, shutdown, error, disconnected
    klippy_message: str = ""

    def apply_status(self, status: Any) -> None:
        if not isinstance(status, dict):
            raise BadReply("Moonraker's status update is not an object")
        for name, values in status.items():
            if isinstance(values, dict):
                _merge(self.objects.setdefault(str(name), {}), values)
        hooks = self.objects.get("webhooks", {})
        if hooks.get("state"):
            self.klippy = str(hooks["state"])
            self.klippy_message = str(hooks.get("state_message") or "")

    def apply_notice(self, notice: RpcNotice) -> bool:
        if notice.method == "notify_status_update" and notice.params:
            self.apply_status(notice.params[0])
            return True
        if notice.method in ("notify_klippy_shutdown", "notify_klippy_disconnected", "notify_klippy_ready"):
            self.klippy = {"notify_klippy_shutdown": "shutdown", "notify_klippy_disconnected": "disconnected",
                           "notify_klippy_ready": "ready"}[notice.method]
            return True
        return False

    def phase(self) -> MachinePhase:
        if self.klippy in ("shutdown", "error"):
            return P.ERROR
        if self.klippy in ("disconnected", "startup"):
            return P.OFFLINE
        state = str(self.objects.get("print_stats", {}).get("state") or "standby")
        return _PRINT_STATS.get(state, P.IDLE)

    def report(self) -> MachineReport:
        stats = self.objects.get("print_stats", {})
        sd = self.objects.get("virtual_sdcard", {})
        info = stats.get("info") if isinstance(stats.get("info"), dict) else {}
        progress = number(sd.get("progress"))
        if progress is None:
            progress = number(self.objects.get("display_status", {}).get("progress"))
        printed_s = number(stats.get("print_duration"))
        time_left = None
        if progress and printed_s and 0.0 < progress < 1.0:  # Klipper gives no estimate; this is the file-based one
            time_left = printed_s / progress - printed_s
        phase = self.phase()
        message = self.klippy_message if phase in (P.ERROR, P.OFFLINE) else str(stats.get("message") or "")
        layer, total = number(info.get("current_layer")), number(info.get("total_layer"))
        return MachineReport(phase, str(stats.get("filename") or "") or None,
                             None if progress is None else min(max(progress, 0.0), 1.0),
                             layer=int(layer) if layer is not None else None,
                             layers_total=int(total) if total is not None else None,
                             time_left_s=time_left, elapsed_s=printed_s, metrics=self._metrics(), message=message)

    def _metrics(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for obj, (actual, target) in {"extruder": ("temperature", "target_temperature"),
                                      "heater_bed": ("bed_c", "bed_target_c")}.items():
            values = self.objects.get(obj, {})
            for key, name in (("temperature", actual), ("target", target)):
                v = number(values.get(key))
                if v is not None:
                    out[name] = round(v, 2)
        position = self.objects.get("toolhead", {}).get("position")
        if isinstance(position, list) and len(position) >= 3:
            z = number(position[2])
            if z is not None:
                out["z_mm"] = round(z, 3)
        return out


def _merge(into: dict[str, Any], diff: dict[str, Any]) -> None:
    for key, value in diff.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def capabilities_from_config(settings: dict[str, Any]) -> dict[str, Any]:
    """Build volume and nozzle from Klipper's configuration (``configfile.settings``)."""
    caps: dict[str, Any] = {}
    dims = []
    for axis in ("x", "y", "z"):
        stepper = settings.get(f"stepper_{axis}")
        if not isinstance(stepper, dict):
            return _nozzle(settings, caps)
        lo, hi = number(stepper.get("position_min")) or 0.0, number(stepper.get("position_max"))
        if hi is None:
            return _nozzle(settings, caps)
        dims.append(round(hi - lo, 2))
    if all(d > 0 for d in dims):
        caps["build_volume_mm"] = dims
    return _nozzle(settings, caps)


def _nozzle(settings: dict[str, Any], caps: dict[str, Any]) -> dict[str, Any]:
    extruder = settings.get("extruder")
    nozzle = number(extruder.get("nozzle_diameter")) if isinstance(extruder, dict) else None
    if nozzle:
        caps["nozzle_mm"] = nozzle
    return caps
