"""A real OctoPrint server for tests: OctoPrint from PyPI in its own venv (``.peers/octoprint-venv``, built by
``./dev test``), run in a temporary base folder with its virtual printer, on 127.0.0.1.

Set-up follows OctoPrint's documentation: ``config.yaml`` marks the first-run wizards as seen and enables the
virtual printer (``devel.virtualPrinter``) with autoconnect on ``VIRTUAL``; the user is made with the documented
CLI (``octoprint user add``) and given an API key in ``users.yaml`` (the per-user key OctoPrint reads there).
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]


def octoprint_exe() -> Path | None:
    """The peer's ``octoprint``; None (the caller skips) outside CI when it was not built."""
    for base in (os.environ.get("IMEWE_OCTOPRINT_VENV"), ROOT / ".peers" / "octoprint-venv",
                 Path("/work/main/.peers/octoprint-venv")):
        if base and (Path(base) / "bin" / "octoprint").exists():
            return Path(base) / "bin" / "octoprint"
    return None


def require_octoprint() -> Path:
    exe = octoprint_exe()
    if exe is None:
        if os.environ.get("IMEWE_REQUIRE_PEERS") or os.environ.get("CI"):
            pytest.fail("the OctoPrint test peer is missing; ./dev test builds .peers/octoprint-venv")
        pytest.skip("no OctoPrint peer (.peers/octoprint-venv); ./dev test builds it")
    return exe


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


CONFIG = """\
server:
  firstRun: false
  onlineCheck: {enabled: false}
  pluginBlacklist: {enabled: false}
  seenWizards: {corewizard: 4}
accessControl:
  salt: %(salt)s
devel:
  virtualPrinter:
    enabled: true
plugins:
  virtual_printer:
    enabled: true
  _disabled: [softwareupdate, announcements, tracking, pluginmanager, backup, firmware_check, achievements,
              discovery]
serial:
  port: VIRTUAL
  baudrate: 115200
  autoconnect: true
"""


class OctoPrintPeer:
    def __init__(self, exe: Path, basedir: Path) -> None:
        self.exe = exe
        self.basedir = basedir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.api_key = secrets.token_hex(16).upper()
        self.proc: subprocess.Popen | None = None
        self.log = basedir / "serve.log"

    def prepare(self) -> None:
        self.basedir.mkdir(parents=True, exist_ok=True)
        (self.basedir / "config.yaml").write_text(CONFIG % {"salt": secrets.token_hex(16)}, encoding="utf-8")
        subprocess.run([str(self.exe), "--basedir", str(self.basedir), "user", "add", "operator",
                        "--password", secrets.token_hex(8), "--admin"], check=True, capture_output=True,
                       timeout=60)
        users = self.basedir / "users.yaml"
        text = users.read_text(encoding="utf-8")
        assert "apikey: null" in text, "OctoPrint's users.yaml changed shape"
        users.write_text(text.replace("apikey: null", f"apikey: {self.api_key}"), encoding="utf-8")

    def start(self, timeout_s: float = 60.0) -> None:
        args = [str(self.exe), "--basedir", str(self.basedir), "serve", "--host", "127.0.0.1",
                "--port", str(self.port)]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            args.append("--iknowwhatimdoing")  # containers run tests as root; OctoPrint refuses that otherwise
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.wait_operational(timeout_s)

    def wait_operational(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"OctoPrint exited: {self.log.read_text(errors='replace')[-2000:]}")
            try:
                r = httpx.get(f"{self.url}/api/connection", headers=self.headers, timeout=2.0)
                if r.status_code == 200 and r.json()["current"]["state"] == "Operational":
                    return
            except (httpx.HTTPError, ValueError, KeyError):
                pass
            time.sleep(0.2)
        raise RuntimeError(f"OctoPrint did not come up in {timeout_s:.0f} s")

    @property
    def headers(self) -> dict[str, str]:
        return {"X-Api-Key": self.api_key}

    def get(self, path: str) -> dict:
        return httpx.get(f"{self.url}{path}", headers=self.headers, timeout=5.0).json()

    def post(self, path: str, body: dict) -> httpx.Response:
        return httpx.post(f"{self.url}{path}", headers=self.headers, json=body, timeout=5.0)

    def kill(self) -> None:
        """Gone at once, as a pulled cable or a crashed host would be."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.proc = None


def gcode_file(path: Path, moves: int, move_mm: float = 20.0, feed_mm_min: float = 6000.0) -> Path:
    """A G-code program the virtual printer takes ``moves · move_mm / feed`` seconds to run (it simulates the
    duration of each move)."""
    lines = ["; made by the Imewe tests", "G21", "G90", "G28", "G1 Z0.2 F600"]
    for i in range(moves):
        lines.append(f"G1 X{move_mm if i % 2 == 0 else 0.0:.1f} Y{(i % 7) * 2.0:.1f} F{feed_mm_min:.0f}")
    lines.append("M84")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


if __name__ == "__main__":  # run one by hand: python -m tests.peers.octoprint_peer /tmp/octo
    peer = OctoPrintPeer(require_octoprint(), Path(sys.argv[1]))
    peer.prepare()
    peer.start()
    print(peer.url, peer.api_key)  # noqa: T201
    try:
        signal.pause()
    finally:
        peer.stop()
