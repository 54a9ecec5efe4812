"""The shared half of every network printer driver: the connection loop, job bookkeeping, alerts and HTTP helpers.

A protocol driver subclasses ``NetworkDriver`` and fills in the hooks (``_session``, ``_upload_and_start``,
``_request_*``, ``probe``); see ``app/devices/network/__init__.py``. Everything runs on the event loop; every
wait has a timeout, so a slow or silent machine holds only its own task.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import httpx

from app.core.domain.capabilities import Capabilities
from app.core.domain.enums import ProcessType
from app.core.domain.errors import DeviceError, ImeweError, ValidationError
from app.core.drivers import (
    DriverBase,
    DriverEvent,
    DriverFault,
    DriverJobProgress,
    DriverState,
    JobOutcome,
    JobRequest,
)
from app.devices.network.backoff import Backoff
from app.devices.network.errors import BadReply, CredentialsRefused, Unreachable
from app.devices.network.report import MachineReport, remote_name
from app.devices.network.tracker import JobTracker

log = logging.getLogger(__name__)
STABLE_SESSION_S = 10.0
SECRETS_POLL_S = 2.0  # after a refused key: how often the stored secrets are read for a new one  # a link that stayed up this long resets the backoff
_CALIBRATIONS = {"home": ["G28"], "level": ["G28", "G29"]}


@dataclass(frozen=True, slots=True)
class MachineInfo:
    """What a machine says about itself when asked once (``probe``): shown in the Add machine dialog and used
    for the node's capabilities. ``capabilities`` holds only what the machine reports (build_volume_mm,
    nozzle_mm, loaded_material, ...)."""

    name: str = ""
    model: str = ""
    firmware: str = ""
    capabilities: dict[str, Any] = field(default_factory=dict)


class NetworkDriver(DriverBase):
    kind: ClassVar[str] = "network"  # the registry key and ``node.driver``
    label: ClassVar[str] = "network printer"  # in operator messages: "OctoPrint at http://..."
    credential_name: ClassVar[str] = "credentials"  # "API key", "access code", "password"
    secret_fields: ClassVar[tuple[str, ...]] = ()  # secrets it needs, as stored under keys/
    job_suffixes: ClassVar[tuple[str, ...]] = (".gcode", ".gco", ".g", ".bgcode")
    schemes: ClassVar[tuple[str, ...]] = ("http", "https")  # address schemes it takes; the first is the default
    poll_s: float = 1.0  # how often a driver that polls its machine asks (PrusaLink, Duet)

    def __init__(self, name: str, address: str, secrets: dict[str, str] | None = None,
                 capabilities: Capabilities | None = None, *, connect_timeout_s: float = 10.0,
                 request_timeout_s: float = 15.0, backoff: Backoff | None = None,
                 start_grace_s: float = 30.0, poll_s: float | None = None) -> None:
        address = address.strip().rstrip("/")
        super().__init__(name or address, capabilities or Capabilities(process=ProcessType.FDM))
        self.address = address
        self.protocol = self.kind
        self.connect_timeout_s = connect_timeout_s
        self.request_timeout_s = request_timeout_s
        self._secrets = dict(secrets or {})  # never logged, never in a message
        self.tracker = JobTracker(self.where, start_grace_s)
        self._backoff = backoff or Backoff()
        if poll_s is not None:  # drivers that poll their machine (PrusaLink, Duet) have a class default
            self.poll_s = poll_s
        self._loop_task: asyncio.Task | None = None
        self._first: asyncio.Future[BaseException | None] | None = None
        self._stopping = False
        self._link_up = False
        self._up_since = 0.0
        self._outage_reported = False
        self._last_fraction = -1.0
        self.last_error = ""
        self.info = MachineInfo()
        # Where a driver stores a secret it learns (a pinned certificate): bootstrap points it at SecretStore.
        self.save_secrets: Callable[[dict[str, str]], None] | None = None
        # Where it reads its secrets again after a refusal (bootstrap: SecretStore): new ones (``imewe nodes add
        # --update-secrets``) are tried once, without a restart; unchanged ones are never retried.
        self.load_secrets: Callable[[], dict[str, str]] | None = None

    @property
    def where(self) -> str:
        return f"{self.label} at {self.address}"

    @property
    def link_up(self) -> bool:
        return self._link_up

    # ------------------------------------------------------------------ hooks for protocol drivers
    async def _session(self) -> None:
        """Open the link, read the machine's whole state and report it (``_report``), call ``_connected()``,
        then follow the machine until the link drops (return) or fails (raise ``Unreachable``, ``BadReply``,
        ``CredentialsRefused``, any ``DeviceError``)."""
        raise NotImplementedError

    async def _close(self) -> None:
        """Release what a session holds (clients, sockets); called after every session and on disconnect."""

    async def _upload_and_start(self, path: Path, remote: str) -> None:
        raise NotImplementedError

    async def _request_pause(self) -> None:
        raise NotImplementedError

    async def _request_resume(self) -> None:
        raise NotImplementedError

    async def _request_cancel(self) -> None:
        raise NotImplementedError

    async def _request_estop(self) -> str:
        """Stop the machine now; return what the machine does after it (for the operator's alert)."""
        raise NotImplementedError

    async def _send_gcode(self, lines: list[str]) -> None:
        raise NotImplementedError

    async def probe(self) -> MachineInfo:
        """Ask the machine once who it is and what it can do (raises ``CredentialsRefused``/``Unreachable``)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ life cycle
    async def connect(self) -> None:
        """Start following the machine. Returns once the link is up; raises if the first attempt fails, but keeps
        retrying in the background (with backoff) unless the credentials were refused."""
        if self._loop_task is not None and not self._loop_task.done():
            return
        self._stopping = False
        loop = asyncio.get_running_loop()
        self._first = loop.create_future()
        self._set_state(DriverState.CONNECTING, f"connecting to {self.where}")
        self._loop_task = loop.create_task(self._run(), name=f"{self.kind}:{self.address}")
        try:
            first = await asyncio.wait_for(asyncio.shield(self._first), self.connect_timeout_s)
        except TimeoutError as exc:
            raise Unreachable(f"{self.where}: no answer within {self.connect_timeout_s:.0f} s; "
                              "still trying in the background") from exc
        if first is not None:
            raise first

    async def disconnect(self) -> None:
        self._stopping = True
        task, self._loop_task = self._loop_task, None
        if task is not None:
            task.cancel()
            done, _ = await asyncio.wait([task], timeout=5.0)  # a stuck session must not hang the shutdown
            if not done:
                log.warning("%s: the link task did not stop in 5 s", self.where)
        with contextlib.suppress(ImeweError, OSError, httpx.HTTPError):
            await self._close()
        self._link_up = False
        self._set_state(DriverState.DISCONNECTED, "disconnected")

    async def _run(self) -> None:
        while not self._stopping:
            try:
                await self._session()
                why: ImeweError = Unreachable(f"{self.where}: the machine closed the link")
            except asyncio.CancelledError:
                raise
            except CredentialsRefused as exc:
                await self._close_quietly()
                self._refused(exc)
                if await self._new_secrets():
                    continue
                return
            except ImeweError as exc:
                why = exc
            except (OSError, httpx.TransportError) as exc:
                why = Unreachable(f"{self.where}: {_describe(exc)}")
            except Exception as exc:  # a protocol bug must cost one reconnect, never the machine's loop
                log.exception("%s: unexpected failure in the link", self.where)
                why = DeviceError(f"{self.where}: internal error ({type(exc).__name__})")
            await self._close_quietly()
            self._session_down(why)
            if self._stopping:
                return
            await asyncio.sleep(self._backoff.next_delay_s())

    async def _close_quietly(self) -> None:
        with contextlib.suppress(ImeweError, OSError, httpx.HTTPError):
            await self._close()

    def _connected(self) -> None:
        """The session calls this once the link is up, authenticated and the first state is reported."""
        self._link_up = True
        self._up_since = time.monotonic()
        self._outage_reported = False
        self.last_error = ""
        if self._first is not None and not self._first.done():
            self._first.set_result(None)
        log.info("%s: connected", self.where)

    def _session_down(self, why: ImeweError) -> None:
        message = str(why)
        self.last_error = message
        was_up, self._link_up = self._link_up, False
        if was_up and time.monotonic() - self._up_since >= STABLE_SESSION_S:
            self._backoff.reset()
        if self._first is not None and not self._first.done():
            self._first.set_result(why)
        if was_up:
            held = "; the job is held on the machine and will be picked up again" if self.tracker.job else ""
            self._emit(DriverFault("link_lost", f"{message}{held}", fatal=True))
            self._outage_reported = True
        elif not self._outage_reported:  # one alert per outage, not one per retry
            kind = "bad_reply" if isinstance(why, BadReply) else "unreachable"
            self._emit(DriverFault(kind, f"{message}; retrying", fatal=True))
            self._outage_reported = True
        log.warning("%s", message)
        self._set_state(DriverState.OFFLINE, message)

    async def _new_secrets(self) -> bool:
        """After a refusal: wait until the stored secrets change (then True: try them), or the driver stops."""
        if self.load_secrets is None:
            return False
        while not self._stopping:
            await asyncio.sleep(SECRETS_POLL_S)
            try:
                fresh = await asyncio.to_thread(self.load_secrets)
            except ImeweError as exc:
                log.warning("%s: %s", self.where, exc)
                continue
            if fresh and fresh != self._secrets:
                self._secrets = dict(fresh)
                log.info("%s: new %s; connecting again", self.where, self.credential_name)
                self._set_state(DriverState.CONNECTING, f"trying the new {self.credential_name}")
                return True
        return False

    def _refused(self, exc: CredentialsRefused) -> None:
        """Wrong key: one clear alert and stop; an operator has to give the right one (no crash loop)."""
        self._link_up = False
        self.last_error = str(exc)
        if self._first is not None and not self._first.done():
            self._first.set_result(exc)
        log.warning("%s", exc)
        self._emit(DriverFault(getattr(exc, "alert_kind", "auth_refused"), str(exc), fatal=True))
        self._set_state(DriverState.ERROR, str(exc))

    # ------------------------------------------------------------------ what the machine reports
    def _report(self, report: MachineReport) -> None:
        self._apply(self.tracker.update(report, time.monotonic()))

    def _apply(self, events: list[DriverEvent]) -> None:
        for event in events:
            if isinstance(event, DriverJobProgress):
                if abs(event.fraction - self._last_fraction) < 0.001 and event.fraction < 1.0:
                    continue  # a change too small to show; the end (100 %) is always passed on
                self._last_fraction = event.fraction
            self._emit(event)
        job = self.tracker.job
        self._job_id = job.job_id if job is not None else None
        if job is None:
            self._last_fraction = -1.0

    # ------------------------------------------------------------------ commands
    def _require_link(self) -> None:
        if not self._link_up:
            raise DeviceError(f"{self.name}: not connected to {self.where} ({self.last_error or self.state.value})")

    async def execute(self, job: JobRequest) -> None:
        path = job.gcode_path
        if path is None:
            raise ValidationError(f"{self.name} ({self.label}) prints a sliced file, and the job has none", "job")
        if path.suffix.lower() not in self.job_suffixes:
            raise ValidationError(f"{self.name} ({self.label}) prints {', '.join(self.job_suffixes)} files, "
                                  f"not {path.name}", "job")
        self._require_link()
        if self.state is not DriverState.IDLE or self.tracker.job is not None:
            raise DeviceError(f"{self.name} cannot start a job while {self.state.value}")
        remote = remote_name(job.job_id, path.name)
        self.tracker.begin(job.job_id, remote, job.estimate_s, time.monotonic())
        self._job_id = job.job_id
        self._set_state(DriverState.WORKING, f"sending {path.name}")
        try:
            await self._upload_and_start(path, remote)
        except BaseException as exc:
            self.tracker.drop()
            self._job_id = None
            if self._link_up:
                self._set_state(DriverState.IDLE, "upload failed")
            if isinstance(exc, ImeweError | asyncio.CancelledError):
                raise
            if isinstance(exc, OSError | httpx.HTTPError):
                raise DeviceError(f"{self.where}: sending {path.name} failed: {_describe(exc)}") from exc
            raise
        log.info("%s: started %s", self.where, remote)

    async def pause(self) -> None:
        self._require_link()
        await self._request_pause()

    async def resume(self) -> None:
        self._require_link()
        await self._request_resume()

    async def cancel(self) -> None:
        self._require_link()
        await self._request_cancel()
        self._apply(self.tracker.end(JobOutcome.CANCELLED, "cancelled by the operator"))
        self._set_state(DriverState.IDLE, "cancelled by the operator")

    async def emergency_stop(self) -> None:
        self._require_link()
        after = await self._request_estop()
        self._emit(DriverFault("estop", f"{self.name}: emergency stop sent to {self.where}; {after}"))
        self._apply(self.tracker.end(JobOutcome.FAILED, "emergency stop"))
        self._set_state(DriverState.ERROR, "emergency stop")

    async def calibrate(self, what: str = "home") -> None:
        cmds = _CALIBRATIONS.get(what)
        if cmds is None:
            raise ValidationError(f"unknown calibration {what!r}; known: {', '.join(_CALIBRATIONS)}", "what")
        self._require_link()
        await self._send_gcode(cmds)

    # ------------------------------------------------------------------ HTTP helpers
    @staticmethod
    async def _close_clients(ws: Any, client: httpx.AsyncClient | None) -> None:
        """Close a session's websocket (bounded: a dead peer must not hold the shutdown) and HTTP client."""
        if ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 2.0)
        if client is not None:
            await client.aclose()

    def _http(self, headers: dict[str, str] | None = None, auth: httpx.Auth | None = None) -> httpx.AsyncClient:
        timeout = httpx.Timeout(self.request_timeout_s, connect=self.connect_timeout_s)
        return httpx.AsyncClient(base_url=self.address, headers=headers or {}, auth=auth, timeout=timeout,
                                 follow_redirects=False, verify=_tls_context(self.address))

    def _check(self, resp: httpx.Response, what: str) -> httpx.Response:
        if resp.status_code in (401, 403):
            raise CredentialsRefused(f"{self.where}: the {self.credential_name} was refused")
        if resp.status_code >= 400:
            raise DeviceError(f"{self.where}: {what} failed: HTTP {resp.status_code} {_snippet(resp.text)}")
        return resp

    def _json(self, resp: httpx.Response, what: str) -> dict[str, Any]:
        self._check(resp, what)
        try:
            data = resp.json()
        except ValueError as exc:
            raise BadReply(f"{self.where}: {what} did not answer with JSON ({_snippet(resp.text)})") from exc
        if not isinstance(data, dict):
            raise BadReply(f"{self.where}: {what} answered {type(data).__name__}, not a JSON object")
        return data


# httpx builds a fresh SSL context, loading a CA store, for every client unless given one: 0.1-0.2 s of the event
# loop on each (re)connect of every machine. Plain-HTTP links get a context that is never used (and verifies
# against no CA, so it could not be misused); HTTPS links share one verifying context per process.
_UNUSED_TLS = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
_VERIFYING_TLS: ssl.SSLContext | None = None


def _tls_context(address: str) -> ssl.SSLContext:
    global _VERIFYING_TLS
    if not address.lower().startswith("https://"):
        return _UNUSED_TLS
    if _VERIFYING_TLS is None:
        _VERIFYING_TLS = ssl.create_default_context()
    return _VERIFYING_TLS


def _snippet(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return repr(text[:limit] + ("…" if len(text) > limit else ""))


def _describe(exc: BaseException) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return "no answer in time"
    if isinstance(exc, httpx.ConnectError | ConnectionRefusedError):
        return "connection refused or host unreachable"
    return str(exc) or type(exc).__name__
