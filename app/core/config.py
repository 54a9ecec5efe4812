"""Configuration: defaults < config file (``config.toml`` in the home folder) < ``IMEWE_*`` variables < flags.

Every key a service reads is declared once in ``SCHEMA`` below (type, default, meaning): adding a setting is one
line there. Keys the schema does not know are reported with the nearest known one (``imewe config check``, and a
warning when a process starts), so a misspelt setting never silently does nothing.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from app.core.domain.errors import ConfigError
from app.core.paths import Paths, sqlite_url

ENV_VARS = {
    "IMEWE_HOME": "folder for everything Imewe keeps",
    "IMEWE_DB_URL": "database URL (sqlite:///... or postgresql://user:pass@host/db)",
    "IMEWE_SITE_NAME": "this site's name",
    "IMEWE_LOG_LEVEL": "DEBUG, INFO, WARNING or ERROR",
    "IMEWE_INTERFACES": "comma-separated addresses zeroconf binds (default: all)",
    "IMEWE_DISCOVERY": "1 or 0: browse the network for machines",
    "IMEWE_DEMO_SCALE": "how much faster than real time the demo runs",
}


@dataclass(frozen=True, slots=True)
class Key:
    """One setting: the TOML types it accepts, its default (None: none, or required when its table is given)."""

    types: type | tuple[type, ...]
    default: Any
    help: str


NUM = (int, float)  # TOML writes 30 and 30.0 differently; both are numbers
ANY_NAME = "*"  # in a table of free names (material -> amount): the type every value has

# Table name ("" is the top level; "a.b" is the sub-table [a.b]) -> key -> Key. Sub-tables are tables here too.
SCHEMA: dict[str, dict[str, Key]] = {
    "": {
        "site_name": Key(str, "Imewe site", "this site's name (IMEWE_SITE_NAME)"),
        "db_url": Key(str, None, "database URL; default a SQLite file in the home (IMEWE_DB_URL)"),
        "log_level": Key(str, "INFO", "DEBUG, INFO, WARNING or ERROR (IMEWE_LOG_LEVEL)"),
        "interfaces": Key((str, list), [], "addresses zeroconf binds; empty: all (IMEWE_INTERFACES)"),
        "discovery": Key((bool, str, int), True, "browse the network for machines (IMEWE_DISCOVERY)"),
        "demo_scale": Key(NUM, 60.0, "how much faster than real time the demo runs (IMEWE_DEMO_SCALE)"),
        "node_token": Key(str, None, "pairing token node agents expect; default kept in keys/node-token"),
    },
    "scheduler": {
        "mode": Key(str, "plan", "plan: follow the optimiser's plan; dispatch: the spec's weighted score"),
        "plan_budget_s": Key(NUM, 1.0, "how long each replanning round may improve the plan (demo: 0.3)"),
        "energy_weight": Key(NUM, 0.0, "> 0: shift flexible work into cheap / solar hours"),
        "objective": Key(str, "makespan", "makespan: finish all work soonest; tardiness: least lateness past due "
                                          "dates, weighted by job priority"),
        "setup_weight": Key(NUM, 0.0, "> 0: each second spent changing material costs this much in the objective "
                                      "(seconds of makespan, or priority x seconds late): plans group by material"),
        "in_doubt_grace_s": Key(NUM, 120.0, "a machine out of reach mid-job keeps its work this long before it "
                                            "is planned elsewhere (0: at once)"),
    },
    "site": {
        "staffed": Key(dict, None, "see [site.staffed]: when someone is on the floor"),
    },
    "site.staffed": {
        **{day: Key((str, list), [], f"{name}: staffed spans \"HH:MM-HH:MM\" (a list for a break); none: closed")
           for day, name in (("mon", "Monday"), ("tue", "Tuesday"), ("wed", "Wednesday"), ("thu", "Thursday"),
                             ("fri", "Friday"), ("sat", "Saturday"), ("sun", "Sunday"))},
        "timezone": Key(str, "UTC", "the hours' time zone, e.g. Europe/Berlin"),
        "attend": Key(str, "both", "what work needs a person for: start, end, both or none (a job's metadata "
                                   "attend overrides it)"),
    },
    "agents": {
        "keepalive_s": Key(NUM, 20.0, "ping node agents this often; unanswered this long: the link is lost"),
        "reconnect_max_s": Key(NUM, 30.0, "longest wait between attempts to reopen a lost agent link"),
        "connect_timeout_s": Key(NUM, 10.0, "one attempt to connect to and pair with an agent"),
    },
    "telemetry": {
        "raw_hours": Key(NUM, 24.0, "keep raw samples this long"),
        "rollup_days": Key(NUM, 90.0, "keep 1-minute rollups this long"),
        "ring_capacity": Key(int, 600, "samples per machine and metric kept in memory for live charts"),
        "flush_interval_s": Key(NUM, 1.0, "wall seconds between batched writes"),
        "detector": Key(str, "ewma", "anomaly detector: ewma (fast) or robust (rolling median/MAD)"),
        "detector_metrics": Key(list, ["vibration", "quality_score"], "metrics the anomaly detector watches"),
        "reorder_default": Key(NUM, 100.0, "material left (grams) below which a reorder alert is raised"),
        "reorder_thresholds": Key(dict, {}, "per material: the reorder level, e.g. pla = 200"),
        "rules": Key(dict, {}, "limits of the hard rules, see [telemetry.rules]"),
    },
    "telemetry.reorder_thresholds": {ANY_NAME: Key(NUM, None, "material -> reorder level")},
    "telemetry.rules": {
        "band_c": Key(NUM, 5.0, "allowed distance from a heater's target once reached"),
        "hard_c": Key(NUM, 15.0, "beyond this distance from target: thermal runaway at once"),
        "diverge_s": Key(NUM, 4.0, "outside the band and still diverging this long: runaway"),
        "max_heatup_s": Key(NUM, 600.0, "heating longer than this without reaching target"),
        "watch_period_s": Key(NUM, 30.0, "while heating the temperature must rise ..."),
        "watch_rise_c": Key(NUM, 2.0, "... at least this much per watch period"),
        "watch_min_target_c": Key(NUM, 45.0, "the rise watch applies to set points above this"),
        "off_alarm_c": Key(NUM, 50.0, "a heater commanded off that climbs above this is stuck on"),
        "working_power_w": Key(NUM, 80.0, "above this a machine is doing something"),
        "stall_s": Key(NUM, 300.0, "progress unchanged this long at working power: stalled"),
        "vibration_limit": Key(NUM, None, "vibration above this raises an alert; none: no limit"),
    },
    "learning": {
        "enabled": Key(bool, True, "learn durations, energy and failure risk from finished jobs"),
        "min_jobs": Key(int, 50, "fewer finished jobs: nothing learned runs, the analytic estimates stay"),
        "min_jobs_per_machine": Key(int, 10, "a machine with fewer jobs of its own keeps the analytic estimate"),
        "retrain_after_jobs": Key(int, 25, "train again in the background after this many new finished jobs"),
        "risk_alert": Key(NUM, 0.25, "failure risk at or above which a start raises an alert"),
        "nightly_hour": Key(int, 3, "hour of the day (site's time zone) to collect and train if there are new "
                                    "finished jobs; -1: never"),
    },
    "energy": {
        "policy": Key(str, "solar_priority", "spec | solar_priority | peak_shaving"),
        "power_cap_kw": Key(NUM, None, "site cap: grid import and every plan stay under it"),
        "base_load_kw": Key(NUM, 0.0, "lights, compressors...: load the machines' telemetry does not see"),
        "currency": Key(str, "EUR", "what prices and costs are in (ISO code, e.g. EUR, USD, GBP)"),
        "solar": Key(dict, None, "see [energy.solar]"),
        "battery": Key(dict, None, "see [energy.battery]"),
        "grid": Key(dict, None, "see [energy.grid]"),
        "fuel_cell": Key(dict, None, "see [energy.fuel_cell]"),
    },
    "energy.solar": {
        "capacity_kw": Key(NUM, None, "one horizontal array of this peak power (when no [[energy.solar.arrays]])"),
        "latitude": Key(NUM, None, "degrees (required)"),
        "longitude": Key(NUM, None, "degrees (required)"),
        "altitude_m": Key(NUM, None, "metres above sea level; default pvlib's lookup for the place"),
        "ambient_c": Key(NUM, 20.0, "air temperature for the module temperature model"),
        "wind_m_s": Key(NUM, 1.0, "wind speed for the module temperature model"),
        "weather": Key((int, float, list), 1.0, "clear-sky factor, or 24 hourly factors (UTC hours)"),
        "arrays": Key(list, [], "see [[energy.solar.arrays]]: one table per array"),
    },
    "energy.solar.arrays": {
        "name": Key(str, "", "what the operator calls it"),
        "kwp": Key(NUM, None, "DC nameplate at standard test conditions (required)"),
        "tilt_deg": Key(NUM, 0.0, "0 horizontal .. 90 vertical"),
        "azimuth_deg": Key(NUM, 180.0, "the way it faces, clockwise from north: 90 east, 180 south, 270 west"),
        "losses_pct": Key(NUM, 9.0, "DC losses: soiling, mismatch, wiring, connections, light-induced, nameplate"),
        "temp_coeff_pct_per_c": Key(NUM, -0.37, "power change per degree C of cell temperature above 25"),
        "inverter_kw": Key(NUM, 0.0, "AC rating; 0: the same as kwp"),
        "inverter_efficiency": Key(NUM, 0.96, "nominal inverter efficiency (PVWatts)"),
        "albedo": Key(NUM, 0.2, "ground reflectance"),
    },
    "energy.battery": {
        "capacity_kwh": Key(NUM, None, "usable capacity (required)"),
        "soc": Key(NUM, 0.5, "state of charge at start, 0..1"),
        "max_charge_kw": Key(NUM, 5.0, "charge power limit"),
        "max_discharge_kw": Key(NUM, 5.0, "discharge power limit"),
        "round_trip_efficiency": Key(NUM, 0.9, "energy out / energy in"),
        "min_soc": Key(NUM, 0.1, "never discharged below this"),
    },
    "energy.grid": {
        "tariff": Key(list, [[0, 24, 0.25]], "[[from_hour, to_hour, price per kWh], ...] in local hours"),
        "carbon": Key((int, float, list), 300.0, "g CO2 per kWh, or 24 hourly numbers"),
        "import_limit_kw": Key(NUM, None, "the connection's limit"),
        "timezone": Key(str, "UTC", "the tariff's time zone, e.g. Europe/Berlin"),
    },
    "energy.fuel_cell": {
        "capacity_kw": Key(NUM, None, "power (required)"),
        "cost_per_kwh": Key(NUM, 0.30, "price of its energy"),
        "carbon_g_per_kwh": Key(NUM, 250.0, "g CO2 per kWh"),
    },
    "serial": {
        "stall_timeout_s": Key(NUM, 30.0, "a serial machine given work that shows no progress and no keep-alive "
                                          "this long is in error (imewe run --stall-timeout overrides it)"),
    },
    "sites": {
        "name": Key(str, None, "the name linked sites see; default site_name"),
        "host": Key(str, "0.0.0.0", "address the site-link server listens on"),
        "port": Key(int, 47470, "site-link port (0: any free port)"),
        "heartbeat_s": Key(NUM, 5.0, "ping interval on a link"),
        "dead_after_s": Key(NUM, 20.0, "no message this long: the link is dead, dial again"),
        "backoff_base_s": Key(NUM, 0.5, "first redial delay"),
        "backoff_max_s": Key(NUM, 60.0, "longest redial delay"),
        "retry_s": Key(NUM, 10.0, "resend an unacknowledged outbox message after this long"),
        "rate_per_s": Key(NUM, 5000.0, "messages a linked site may send us per second, on average ..."),
        "burst": Key(NUM, 10000.0, "... and at once"),
        "summary_s": Key(NUM, 15.0, "how often summaries and free capacity are published"),
        "epsilon": Key(NUM, 1.0, "differential privacy of what leaves the site: each group of published "
                                 "numbers costs this much per privacy period (smaller: more private)"),
        "privacy_period_s": Key(NUM, 3600.0, "a published number is drawn once per period and repeated"),
        "epsilon_per_day": Key(NUM, 130.0, "privacy budget of each linked site per UTC day; spent: no fresh "
                                           "numbers for that site until the next day"),
        "location": Key(str, "", "\"lat,lon\" of the site, published with geo noise; empty: not published"),
        "location_radius_m": Key(NUM, 2000.0, "the published location hides the true one within this radius"),
        "discovery": Key(bool, True, "find other sites on the LAN"),
        "interfaces": Key(list, [], "addresses site discovery binds; empty: all"),
        "window": Key(int, 256, "outbox messages in flight per link"),
        "learning_links": Key(list, [], "linked sites (ids, at least their first 8 characters, or names) this site "
                                        "shares learned correction statistics with and learns from; opt-in per link"),
    },
    "api": {
        "host": Key(str, "127.0.0.1", "address the local API listens on; anything but 127.0.0.1, ::1 or "
                                      "localhost needs tls_cert and tls_key (the API is on the LAN only over TLS)"),
        "port": Key(int, 0, "the local API's port (0: any free port, written to run/owner.json)"),
        "tls_cert": Key(str, "", "PEM certificate (chain) of the API's TLS listener"),
        "tls_key": Key(str, "", "PEM private key of tls_cert (keep it under keys/, mode 0600)"),
    },
    "ui": {
        "kiosk_user": Key(str, "", "a floor terminal: the window keeps this person signed in without a password "
                                   "(an operator, designer or viewer; never an admin or engineer); '' asks who "
                                   "is working"),
        "kiosk_idle_s": Key(NUM, 600.0, "on a kiosk, someone who switched in is signed out (back to kiosk_user) "
                                         "after this long with no key press or click; 0: never"),
        "idle_sign_out_s": Key(NUM, 0.0, "a window with no kiosk_user signs the person out (and asks who is "
                                          "working) after this long with no key press or click; 0: never"),
    },
}


def _table_label(table: str) -> str:
    return f"[{table}]" if table else "top level"


def _known_anywhere(key: str) -> list[str]:
    return [t for t, keys in SCHEMA.items() if key in keys and key != ANY_NAME]


def _suggest(table: str, key: str) -> str:
    known = [k for k in SCHEMA.get(table, {}) if k != ANY_NAME]
    near = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    if near:
        return f"; did you mean {near[0]}?"
    elsewhere = _known_anywhere(key)
    if elsewhere:
        return f"; it belongs in {_table_label(elsewhere[0])}"
    return f"; known: {', '.join(known)}" if known else ""


def _is(value: Any, types: type | tuple[type, ...]) -> bool:
    allowed = types if isinstance(types, tuple) else (types,)
    if isinstance(value, bool) and bool not in allowed:
        return False  # TOML true is not the number 1
    return isinstance(value, allowed)


def check_config(raw: dict[str, Any]) -> list[str]:
    """Every key the schema does not know (with the nearest known one) and every value of the wrong type."""
    problems: list[str] = []
    for path, table, value in _walk(raw):
        keys = SCHEMA.get(table)
        if keys is None:
            continue
        if path not in keys and ANY_NAME not in keys:
            if isinstance(value, dict) and f"{table}.{path}".lstrip(".") not in SCHEMA:
                near = difflib.get_close_matches(f"{table}.{path}".lstrip("."), list(SCHEMA), n=1, cutoff=0.6)
                hint = f"; did you mean [{near[0]}]?" if near else ""
                problems.append(f"[{f'{table}.{path}'.lstrip('.')}] is not a known table{hint}")
            elif not isinstance(value, dict):
                problems.append(f"{_table_label(table)} {path} is not a known key{_suggest(table, path)}")
            continue
        spec = keys.get(path) or keys[ANY_NAME]
        if not _is(value, spec.types):
            problems.append(f"{_table_label(table)} {path} = {value!r:.40} should be {_kind(spec.types)}")
    return problems


_KIND = {str: "text", int: "a whole number", float: "a number", bool: "true or false", list: "a list",
         dict: "a table"}


def _kind(types: type | tuple[type, ...]) -> str:
    names = [_KIND.get(t, t.__name__) for t in (types if isinstance(types, tuple) else (types,))]
    if "a whole number" in names and "a number" in names:
        names.remove("a whole number")
    return " or ".join(dict.fromkeys(names))


def _walk(raw: dict[str, Any], table: str = "") -> Iterator[tuple[str, str, Any]]:
    for key, value in raw.items():
        yield str(key), table, value
        sub = f"{table}.{key}" if table else str(key)
        if isinstance(value, dict) and sub in SCHEMA:
            yield from _walk(value, sub)
        elif isinstance(value, list) and sub in SCHEMA:  # an array of tables: [[a.b]]
            for item in value:
                if isinstance(item, dict):
                    yield from _walk(item, sub)


def schema_rows() -> Iterator[tuple[str, str, Key]]:
    """(table, key, Key) for documentation and ``imewe config keys``."""
    for table, keys in SCHEMA.items():
        for name, spec in keys.items():
            if spec.types is not dict:
                yield table, name, spec


@dataclass(slots=True)
class Config:
    paths: Paths
    db_url: str
    site_name: str = "Imewe site"
    log_level: str = "INFO"
    interfaces: list[str] = field(default_factory=list)  # empty: all
    discovery: bool = True
    demo_scale: float = 60.0
    serial_stall_timeout_s: float = 30.0  # [serial] stall_timeout_s
    raw: dict[str, Any] = field(default_factory=dict)  # the whole config file, for services' own sections
    problems: list[str] = field(default_factory=list)  # unknown keys and bad types in the file (check_config)

    def section(self, name: str) -> dict[str, Any]:
        value = self.raw.get(name, {})
        if not isinstance(value, dict):
            raise ConfigError(f"[{name}] in {self.paths.config_file} must be a table")
        return value


def load_config(home: str | None = None, db_url: str | None = None, env: dict[str, str] | None = None) -> Config:
    env = dict(os.environ if env is None else env)
    paths = Paths.resolve(home or env.get("IMEWE_HOME"))
    raw: dict[str, Any] = {}
    if paths.config_file.exists():
        try:
            raw = tomllib.loads(paths.config_file.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read {paths.config_file}: {exc}") from exc
    cfg = Config(paths=paths, db_url="", raw=raw, problems=check_config(raw))
    cfg.site_name = str(env.get("IMEWE_SITE_NAME") or raw.get("site_name") or cfg.site_name)
    cfg.log_level = str(env.get("IMEWE_LOG_LEVEL") or raw.get("log_level") or cfg.log_level).upper()
    if cfg.log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError(f"log level {cfg.log_level!r} is not DEBUG, INFO, WARNING or ERROR")
    interfaces = env.get("IMEWE_INTERFACES") or raw.get("interfaces") or []
    cfg.interfaces = [i.strip() for i in interfaces.split(",")] if isinstance(interfaces, str) else list(interfaces)
    disc = env.get("IMEWE_DISCOVERY", raw.get("discovery", True))
    cfg.discovery = str(disc).lower() not in ("0", "false", "no", "off")
    try:
        cfg.demo_scale = float(env.get("IMEWE_DEMO_SCALE") or raw.get("demo_scale") or cfg.demo_scale)
    except ValueError as exc:
        raise ConfigError("IMEWE_DEMO_SCALE must be a number") from exc
    if cfg.demo_scale <= 0:
        raise ConfigError("the demo time scale must be positive")
    stall = cfg.section("serial").get("stall_timeout_s", cfg.serial_stall_timeout_s)
    if isinstance(stall, bool) or not isinstance(stall, int | float) or not 0 < stall < float("inf"):
        raise ConfigError(f"[serial] stall_timeout_s = {stall!r:.40} should be a positive number of seconds")
    cfg.serial_stall_timeout_s = float(stall)
    cfg.db_url = db_url or env.get("IMEWE_DB_URL") or raw.get("db_url") or sqlite_url(paths.database)
    return cfg
