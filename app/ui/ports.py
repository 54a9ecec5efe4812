"""The ports the control room is handed: typed views of the site's services, one per panel.

The composition root (``app.window_ports.ui_ports``) fills a ``Ports`` from a running core; the window
(``app.ui.main_window.ControlRoom``) passes each panel exactly the port it needs and never looks a service up by
name. The core's services satisfy these protocols structurally (nothing inherits from them), so a test can hand a
panel any object with the same methods. A port is ``None`` when this site does not run that service; the panel
then says so in its tab.

Adding a panel (e.g. a design review tab):

1. here, a ``Protocol`` with only what the panel reads and calls, and a field for it on ``Ports``;
2. in ``app/window_ports.py`` ``ui_ports()``, fill that field from the core;
3. in ``ControlRoom.EXTRA_TABS`` (``app/ui/main_window.py``), one ``TabSpec("Review", build)`` line where
   ``build(ports, window)`` returns the panel. A panel whose build raises shows an ``ErrorPanel`` in its tab with
   the message and where the log is, so a broken tab is visible, never silently missing. (The four core tabs are
   wired to each other by the window; their first read of a port goes through ``ControlRoom._first_load``, which
   puts the error on top of the still-working panel.)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID

from app.core.bus import EventBus
from app.core.clock import Clock
from app.core.domain.entities import Alert, Node, Part
from app.core.domain.enums import ProcessType
from app.core.drivers import SerialFind
from app.core.energy.accounting import Usage
from app.core.energy.config import SiteEnergy
from app.core.energy.manager import ForecastPoint
from app.core.energy.repository import FlowRow
from app.core.fleet.service import FleetService
from app.core.jobs.eta import DurationEstimate
from app.core.jobs.service import JobService
from app.core.kernel import KernelStatus
from app.core.production.plan_view import PlanView
from app.core.review.notes import PartNote
from app.core.sites.views import SiteView
from app.ui.actions import MachineControl

if TYPE_CHECKING:
    from app.core.catalog.browse import CatalogueItem

NodeNames = Callable[[UUID | str], str]  # a machine's name from its id (a short id when it is gone)


@dataclass(frozen=True, slots=True)
class SiteInfo:
    """What the title bar, status bar and About box say about the site."""

    name: str
    home: Path
    database: str
    log_file: Path  # where a panel that failed to build tells the operator to look
    time_zone: str | None = None  # IANA name finish times are shown in; None: this computer's zone
    site_id: str = ""  # what another site needs to pair with this one (the Sites tab shows it)


class HealthPort(Protocol):
    """The kernel's health (the status bar)."""

    def status(self) -> KernelStatus: ...


class AlertsPort(Protocol):
    """Open alerts and acknowledging them (the Alerts tab)."""

    def open_alerts(self) -> list[Alert]: ...

    async def acknowledge(self, alert_id: UUID, by: str) -> bool: ...


class EnergyPort(Protocol):
    """Recorded flows, the forecast ahead, who used most and the totals (the Energy tab)."""

    @property
    def clock(self) -> Clock: ...

    @property
    def site(self) -> SiteEnergy: ...

    def recent(self, since: datetime) -> list[FlowRow]: ...

    def forecast(self, hours: int = 24, start: datetime | None = None) -> list[ForecastPoint]: ...

    def ranking(self, which: str = "day", now: datetime | None = None,
                kind: str = "node") -> list[tuple[str, Usage]]: ...

    def totals(self, which: str = "day", now: datetime | None = None) -> dict[str, float]: ...

    def status(self) -> dict[str, Any]: ...


class SiteIdentityPort(Protocol):
    @property
    def site_id(self) -> str: ...


class SitesAdminPort(Protocol):
    async def pair(self, site_ref: str, address: str = "", name: str = "", actor: str = "admin") -> Any: ...

    async def accept(self, site_ref: str, address: str = "", name: str = "", actor: str = "admin") -> Any: ...

    async def revoke(self, site_ref: str, actor: str = "admin") -> Any: ...


class SitesPort(Protocol):
    """Linked sites, their health and summaries, and pairing (the Sites tab)."""

    @property
    def identity(self) -> SiteIdentityPort: ...

    @property
    def admin(self) -> SitesAdminPort: ...

    async def views(self) -> list[SiteView]: ...


class FoundMachineView(Protocol):
    """A network printer discovery found (the Add machine dialog's rows)."""

    kind: str
    name: str
    address: str
    model: str
    version: str
    serial: str

    @property
    def label(self) -> str: ...

    @property
    def asks_for(self) -> tuple[str, ...]: ...


class MachinesPort(Protocol):
    """Adding network machines (OctoPrint, Moonraker, PrusaLink, Bambu Lab, Duet) from the window."""

    def found(self) -> list[FoundMachineView]: ...

    def kinds(self) -> dict[str, tuple[str, tuple[str, ...]]]: ...

    async def add(self, name: str, kind: str, address: str, secrets: dict[str, str], actor: Any = None) -> Any: ...


class NotesPort(Protocol):
    """Review notes pinned to points of a part (the Design review tab)."""

    async def for_file(self, key: str) -> list[PartNote]: ...

    async def for_part(self, part_id: UUID) -> list[PartNote]: ...

    async def add(self, key: str, file_name: str, point: tuple[float, float, float], text: str,
                  author: str) -> PartNote: ...

    async def set_state(self, note_id: UUID, state: str, by: str) -> PartNote: ...

    async def attach(self, key: str, part_id: UUID, job_id: UUID) -> int: ...


class PlanPort(Protocol):
    """The current production plan (when machines are free, for the earliest finish of a reviewed part)."""

    @property
    def plan(self) -> PlanView | None: ...


class WhatIfPort(Protocol):
    """What-if plans next to the live one, and applying a change on the operator's confirmation (the What if tab)."""

    async def whatif(self, *, down: UUID | None = None, down_for_s: float = ..., rush: UUID | None = None,
                     cap_w: float | None = None, replays: int = ...) -> dict[str, Any]: ...

    async def apply_whatif(self, *, down: UUID | None = None, down_for_s: float = ..., rush: UUID | None = None,
                           cap_w: float | None = None, actor: Any = ...) -> list[str]: ...

    async def clear_whatif(self, actor: Any = ...) -> None: ...

    def applied_whatif(self) -> list[str]: ...


class LearningPort(Protocol):
    """Learned durations of parts on machines, with their 80 % interval, or the analytic estimate, flagged (the
    job detail, the machine panel, the fleet and jobs lists, design review)."""

    def estimates(self, parts: list[Part]) -> dict[UUID, DurationEstimate]: ...

    def estimate_on(self, node: Node, process: str, material: str, size_mm: tuple[float, float, float],
                    estimate_s: float, material_g: float = 0.0, file_path: str | None = None
                    ) -> DurationEstimate: ...


class FoundAgentView(Protocol):
    name: str
    address: str
    registered: bool
    fingerprint: str
    state: str  # pending, accepted, changed, refused ("" before its key was read)
    version: str
    node_id: str


class LocalMachinesPort(Protocol):
    """Adding simulated machines, serial boards the scan finds, and listing node agents (the Add machine dialog)."""

    def processes(self) -> list[ProcessType]: ...

    async def add_simulated(self, name: str, process: str, location: str = "", actor: Any = None) -> Any: ...

    async def scan_serial(self) -> list[SerialFind]: ...

    async def add_serial(self, name: str, found: SerialFind, process: str = "", location: str = "",
                         actor: Any = None) -> Any: ...

    def agents(self) -> list[FoundAgentView]: ...

    async def decide_agent(self, fingerprint: str, accept: bool, replace: bool = False,
                           actor: Any = "operator") -> Any: ...

    def site_version(self) -> str: ...

    async def update_agents(self, node_id: str | None = None, actor: Any = "operator") -> Any: ...

    def rollouts(self) -> list[Any]: ...


class CataloguePort(Protocol):
    """Templates, playbooks, part files and offers from linked sites (the Catalogue tab)."""

    async def items(self, search: str = "", kinds: tuple[str, ...] = ...) -> list[CatalogueItem]: ...

    async def thumbnail_file(self, item: CatalogueItem) -> str | None: ...

    async def make(self, name: str, values: dict[str, Any]) -> dict[str, Any]: ...

    async def export_to(self, path: Path) -> dict[str, int]: ...

    async def import_from(self, path: Path) -> dict[str, int]: ...

    def social(self, item: CatalogueItem) -> bool: ...

    async def comments(self, item: CatalogueItem) -> list[dict[str, Any]]: ...

    async def comment(self, item: CatalogueItem, author: str, text: str) -> dict[str, Any]: ...

    async def view(self, item: CatalogueItem, who: str, viewing: bool) -> int: ...

    async def viewers(self, item: CatalogueItem) -> list[dict[str, Any]]: ...

    def can_trade(self, item: CatalogueItem) -> bool: ...

    async def waiting_jobs(self) -> list[tuple[str, str]]: ...

    async def quote(self, item: CatalogueItem, job_id: str) -> dict[str, Any]: ...

    async def order(self, item: CatalogueItem) -> dict[str, Any]: ...

    async def rate(self, item: CatalogueItem, stars: int, note: str = "") -> dict[str, Any]: ...


class AdminPort(Protocol):
    """People, API keys, the audit log and the configuration's problems (the Admin tab). Every call names the
    signed-in person; the core checks the permission table."""

    async def people_exist(self) -> bool: ...

    async def sign_in(self, name: str, password: str) -> Any: ...

    async def first_admin(self, name: str, password: str) -> Any: ...

    async def acting(self, actor: Any) -> Any: ...

    # the window's session (``app/ui/session.py``): a SessionGrant is (token, actor, expires_at, kiosk)
    async def open_session(self, name: str, password: str) -> Any: ...

    async def first_admin_session(self, name: str, password: str) -> Any: ...

    async def resume(self, token: str) -> Any: ...

    async def change_password(self, actor: Any, old: str, new: str) -> Any: ...

    def kiosk_user(self) -> str: ...

    def kiosk_idle_s(self) -> float: ...

    def idle_sign_out_s(self) -> float: ...

    async def kiosk_session(self) -> Any: ...

    async def list_users(self, actor: Any) -> list[Any]: ...

    async def add_user(self, actor: Any, name: str, password: str, role: str) -> Any: ...

    async def set_role(self, actor: Any, name: str, role: str) -> Any: ...

    async def set_active(self, actor: Any, name: str, active: bool) -> Any: ...

    async def unlock(self, actor: Any, name: str) -> None: ...

    async def list_keys(self, actor: Any) -> list[Any]: ...

    async def create_key(self, actor: Any, name: str, scopes: str, days: float,
                         user: str | None = None) -> tuple[str, Any]: ...

    async def revoke_key(self, actor: Any, ref: str) -> Any: ...

    async def audit_log(self, actor: Any, limit: int = 200, target: str | None = None, action: str | None = None,
                        person: str | None = None) -> list[Any]: ...

    async def verify_audit(self, actor: Any) -> Any: ...

    def config_problems(self) -> list[str]: ...


@dataclass(frozen=True, slots=True)
class Ports:
    """Everything the window may use. ``fleet`` and ``jobs`` always run; the rest are None when not wired."""

    site: SiteInfo
    clock: Clock
    bus: EventBus
    fleet: FleetService
    jobs: JobService
    health: HealthPort
    control: MachineControl | None = None
    alerts: AlertsPort | None = None
    energy: EnergyPort | None = None
    sites: SitesPort | None = None
    machines: MachinesPort | None = None
    notes: NotesPort | None = None
    plan: PlanPort | None = None
    local_machines: LocalMachinesPort | None = None
    admin: AdminPort | None = None
    learning: LearningPort | None = None
    whatif: WhatIfPort | None = None
    catalogue: CataloguePort | None = None
