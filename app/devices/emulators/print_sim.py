"""The printer behind a network emulator: files on its storage, a print that advances with the wall clock,
heaters that approach their targets, and a state file so a restarted emulator (the printer's network service
restarting while the printer goes on printing) carries on where it was.

States are the emulator's own (idle, printing, paused, finished, cancelled, failed, halted); each emulator maps
them onto its machine's vocabulary.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class PrintState:
    state: str = "idle"
    file: str = ""
    size_b: int = 0
    layers: int = 0
    started_wall_s: float = 0.0
    paused_total_s: float = 0.0
    paused_at_wall_s: float = 0.0
    starts: int = 0  # how many prints were started: a test checks nothing is started twice
    job_id: int = 0
    nozzle_target_c: float = 0.0
    bed_target_c: float = 0.0
    history: list[str] = field(default_factory=list)


class PrintSim:
    """One printer. ``print_s``: how long a print takes (wall clock), whatever the file."""

    def __init__(self, storage: Path, print_s: float = 6.0, state_file: Path | None = None,
                 stamp: bool = False) -> None:
        self.storage = storage
        # Benchmarks: the nozzle reading carries the wall-clock second it was made (mod 1000, floored to 10 ms so
        # a client rounding to 2 decimals never moves it later), so the delay from the machine's report to the
        # event on the control room's bus can be read off the event (over-estimated by less than 10 ms).
        self.stamp = stamp
        storage.mkdir(parents=True, exist_ok=True)
        self.print_s = print_s
        self.state_file = state_file
        self.s = PrintState()
        if state_file is not None and state_file.exists():
            self.s = PrintState(**json.loads(state_file.read_text()))
        self._nozzle_c = 24.0
        self._bed_c = 23.0
        self._last_tick = time.monotonic()

    def _save(self) -> None:
        if self.state_file is not None:
            tmp = self.state_file.with_suffix(".tmp")
            tmp.write_text(json.dumps(asdict(self.s)))
            os.replace(tmp, self.state_file)

    # ------------------------------------------------------------------ files
    def store(self, name: str, data: bytes) -> None:
        path = self.storage / Path(name).name
        path.write_bytes(data)

    def has(self, name: str) -> bool:
        return (self.storage / Path(name).name).is_file()

    def size(self, name: str) -> int:
        return (self.storage / Path(name).name).stat().st_size

    # ------------------------------------------------------------------ commands
    def start(self, name: str) -> bool:
        if self.s.state in ("printing", "paused") or not self.has(name) or self.s.state == "halted":
            return False
        text = (self.storage / Path(name).name).read_bytes()
        layers = text.count(b";LAYER_CHANGE") or text.count(b";LAYER:") or 10
        self.s = PrintState(state="printing", file=Path(name).name, size_b=len(text), layers=layers,
                            started_wall_s=time.time(), starts=self.s.starts + 1, job_id=self.s.job_id + 1,
                            nozzle_target_c=215.0, bed_target_c=60.0, history=self.s.history + [f"start {name}"])
        self._save()
        return True

    def pause(self) -> bool:
        if self.s.state != "printing":
            return False
        self.s.state = "paused"
        self.s.paused_at_wall_s = time.time()
        self.s.history.append("pause")
        self._save()
        return True

    def resume(self) -> bool:
        if self.s.state != "paused":
            return False
        self.s.paused_total_s += time.time() - self.s.paused_at_wall_s
        self.s.state = "printing"
        self.s.history.append("resume")
        self._save()
        return True

    def cancel(self) -> bool:
        if self.s.state not in ("printing", "paused"):
            return False
        self.s.state = "cancelled"
        self.s.nozzle_target_c = self.s.bed_target_c = 0.0
        self.s.history.append("cancel")
        self._save()
        return True

    def halt(self) -> None:
        """Emergency stop: heaters off, motion stops, the machine needs a reset."""
        self.s.state = "halted"
        self.s.nozzle_target_c = self.s.bed_target_c = 0.0
        self.s.history.append("halt")
        self._save()

    def reset(self) -> None:
        if self.s.state == "halted":
            self.s.state = "idle"
            self._save()

    # ------------------------------------------------------------------ what the machine reports
    def elapsed_s(self) -> float:
        if not self.s.started_wall_s:
            return 0.0
        end = self.s.paused_at_wall_s if self.s.state == "paused" else time.time()
        return max(0.0, end - self.s.started_wall_s - self.s.paused_total_s)

    def fraction(self) -> float:
        if self.s.state in ("idle", "halted") or not self.s.file:
            return 0.0
        if self.s.state == "finished":
            return 1.0
        return min(1.0, self.elapsed_s() / self.print_s) if self.print_s > 0 else 1.0

    def time_left_s(self) -> float:
        return max(0.0, self.print_s * (1.0 - self.fraction()))

    def layer(self) -> int:
        return min(self.s.layers, int(self.fraction() * self.s.layers) + 1) if self.s.layers else 0

    def temps(self) -> tuple[float, float, float, float]:
        now = time.monotonic()
        dt, self._last_tick = now - self._last_tick, now
        k = min(1.0, dt / 2.0)  # first-order approach with a 2 s time constant
        self._nozzle_c += (max(self.s.nozzle_target_c, 24.0) - self._nozzle_c) * k
        self._bed_c += (max(self.s.bed_target_c, 23.0) - self._bed_c) * k
        nozzle = math.floor((time.time() % 1000.0) * 100) / 100 if self.stamp else round(self._nozzle_c, 1)
        return nozzle, self.s.nozzle_target_c, round(self._bed_c, 1), self.s.bed_target_c

    def tick(self) -> None:
        if self.s.state == "printing" and self.fraction() >= 1.0:
            self.s.state = "finished"
            self.s.nozzle_target_c = self.s.bed_target_c = 0.0
            self.s.history.append("finished")
            self._save()
