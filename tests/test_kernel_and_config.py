import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from app.bootstrap import build_core
from app.core.config import load_config
from app.core.domain.errors import ConfigError, ImeweError
from app.core.store import open_store
from app.core.store.all_tables import full_metadata

from .helpers import FDM, job_spec

ROOT = Path(__file__).resolve().parents[1]


class Probe:
    def __init__(self, name: str, log: list[str], fail: bool = False) -> None:
        self.name, self._log, self._fail = name, log, fail

    async def start(self) -> None:
        if self._fail:
            raise RuntimeError("no coffee")
        self._log.append(f"start {self.name}")

    async def stop(self) -> None:
        self._log.append(f"stop {self.name}")

    def health(self) -> str:
        return "ok"


def test_kernel_boots_in_dependency_order_and_shuts_down_in_reverse(tmp_path) -> None:
    async def go():
        core = build_core(load_config(str(tmp_path)), connect_machines=False)
        log: list[str] = []
        core.kernel.add(Probe("planner", log), depends_on=("jobs", "probe-telemetry"))
        core.kernel.add(Probe("probe-telemetry", log), depends_on=("fleet",))
        status = await core.kernel.boot()
        await core.fleet.register("P1", FDM, bring_up=True)
        await core.jobs.submit(job_spec())
        metrics = await core.kernel.metrics()
        await core.kernel.shutdown()
        return core.kernel.boot_order(), status, metrics, log

    order, status, metrics, log = asyncio.run(go())
    assert order.index("fleet") < order.index("probe-telemetry") < order.index("planner")
    assert order.index("jobs") < order.index("planner")
    assert status.healthy and set(status.services) >= {"fleet", "jobs", "machines", "production", "telemetry", "energy", "probe-telemetry", "planner"}
    assert metrics["jobs_by_state"] == {"VALIDATED": 1} and metrics["nodes_by_state"] == {"IDLE": 1}
    assert metrics["db_size_bytes"] > 0 and metrics["uptime_s"] >= 0
    assert log == ["start probe-telemetry", "start planner", "stop planner", "stop probe-telemetry"]


def test_kernel_reports_a_failed_service_and_a_dependency_cycle(tmp_path) -> None:
    async def go():
        core = build_core(load_config(str(tmp_path)), connect_machines=False)
        core.kernel.add(Probe("broken", [], fail=True), depends_on=("fleet",))
        with pytest.raises(ImeweError, match="broken failed to start: no coffee"):
            await core.kernel.boot()
        core2 = build_core(load_config(str(tmp_path / "2")), connect_machines=False)
        core2.kernel.add(Probe("a", []), depends_on=("b",))
        core2.kernel.add(Probe("b", []), depends_on=("a",))
        with pytest.raises(ImeweError, match="circle"):
            core2.kernel.boot_order()
        core2.store.close()

    asyncio.run(go())


def test_config_file_env_and_flags_in_order(tmp_path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text('site_name = "North bay"\ndemo_scale = 120\n[energy]\npower_cap_w = 9000\n')
    cfg = load_config(str(home), env={})
    assert cfg.site_name == "North bay" and cfg.demo_scale == 120 and cfg.section("energy")["power_cap_w"] == 9000
    assert cfg.db_url == f"sqlite:///{home.resolve() / 'imewe.sqlite3'}"
    cfg = load_config(str(home), env={"IMEWE_SITE_NAME": "South", "IMEWE_DB_URL": "sqlite:////x.db"})
    assert cfg.site_name == "South" and cfg.db_url == "sqlite:////x.db"
    assert load_config(str(home), "sqlite:////y.db", env={"IMEWE_DB_URL": "sqlite:////x.db"}).db_url.endswith("y.db")
    (home / "config.toml").write_text("site_name = [unclosed")
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(str(home), env={})


def test_imewe_home_keeps_instances_apart(tmp_path) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("IMEWE_HOME", None)
    for site in ("a", "b"):
        r = subprocess.run([sys.executable, "-m", "app.cli.main", "--home", str(tmp_path / site), "nodes", "add",
                            f"M-{site}", "--process", "laser"], env=env, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
    for site in ("a", "b"):
        r = subprocess.run([sys.executable, "-m", "app.cli.main", "--home", str(tmp_path / site), "--json",
                            "nodes", "list"], env=env, capture_output=True, text=True, timeout=60)
        assert [n["name"] for n in json.loads(r.stdout)] == [f"M-{site}"]
        assert (tmp_path / site / "imewe.sqlite3").exists() and (tmp_path / site / "logs" / "imewe.log").exists()


def test_migrations_match_the_schema_and_sqlite_runs_wal_with_foreign_keys(db_url) -> None:
    store = open_store(db_url)
    try:
        with store.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), full_metadata())
            if store.is_sqlite:
                assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
                assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            tables = set(sa.inspect(conn).get_table_names())
        assert diff == [], f"schema.py and the migrations disagree: {diff}"
        assert {"jobs", "parts", "nodes", "audit_log", "state_changes", "alembic_version"} <= tables
    finally:
        store.close()
    # Opening again runs the migrations again: nothing to do, nothing lost.
    open_store(db_url).close()
