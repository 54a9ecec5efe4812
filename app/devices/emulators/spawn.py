"""Start a network emulator as its own process and wait for its ``READY <port>`` line (tests, benchmarks)."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import tempfile
import time


class EmulatorProcess:
    def __init__(self, module: str, args: list[str], timeout_s: float = 20.0, env: dict[str, str] | None = None):
        self.module = module
        self.args = args
        self.timeout_s = timeout_s
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.ports: list[int] = []
        self.ready_line = ""

    def start(self) -> EmulatorProcess:
        env = dict(os.environ, **(self.env or {}))
        # stderr to a file, not a pipe: a chatty emulator must never block on a pipe nobody reads
        self._err = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([sys.executable, "-m", self.module, *self.args], stdout=subprocess.PIPE,
                                     stderr=self._err, env=env)
        deadline = time.monotonic() + self.timeout_s
        line = b""
        assert self.proc.stdout is not None
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self.proc.stdout], [], [], max(0.0, left))
            if not ready:
                self.stop()
                raise RuntimeError(f"{self.module} did not get ready in {self.timeout_s:.0f} s")
            chunk = os.read(self.proc.stdout.fileno(), 1)
            if not chunk:
                raise RuntimeError(f"{self.module} exited: {self.stderr()[-2000:]}")
            line += chunk
        self.ready_line = line.decode().strip()
        parts = self.ready_line.split()
        if parts[:1] != ["READY"]:
            raise RuntimeError(f"{self.module}: unexpected first line {self.ready_line!r}")
        self.ports = [int(p) for p in parts[1:]]
        self.port = self.ports[0]
        return self

    def stderr(self) -> str:
        self._err.seek(0)
        return self._err.read().decode(errors="replace")

    def stop(self) -> None:
        """Kill it hard, as a crash or a power cut would."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
