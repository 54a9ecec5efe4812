"""The shared network-driver base without I/O: job tracking from machine reports, backoff, names, secrets."""

from __future__ import annotations

import random
import stat
from uuid import uuid4

import pytest

from app.core.domain.errors import ValidationError
from app.core.drivers import (
    DriverFault,
    DriverJobFinished,
    DriverJobProgress,
    DriverState,
    DriverStateChanged,
    DriverTelemetry,
    JobOutcome,
)
from app.devices.factory import network_driver
from app.devices.network.backoff import Backoff
from app.devices.network.report import MachinePhase as P
from app.devices.network.report import MachineReport, job_id_from_remote, remote_name, same_file
from app.devices.network.secrets import SecretStore
from app.devices.network.tracker import JobTracker


def states(events):
    return [e.state for e in events if isinstance(e, DriverStateChanged)]


def finished(events):
    return [e for e in events if isinstance(e, DriverJobFinished)]


def test_remote_name_carries_the_job_id_and_is_safe():
    job = uuid4()
    name = remote_name(job, "../My part (v2).gcode")
    assert name.startswith(f"imewe-{job.hex}-") and "/" not in name and " " not in name
    assert job_id_from_remote(f"local/{name}") == job
    assert job_id_from_remote("benchy.gcode") is None
    assert same_file(f"/gcodes/{name}", name) and not same_file(name, None)


def test_a_job_runs_to_completion_with_both_time_left_figures():
    t = JobTracker("OctoPrint at http://x")
    job = uuid4()
    name = remote_name(job, "a.gcode")
    t.begin(job, name, estimate_s=1000.0, now_s=0.0)
    ev = t.update(MachineReport(P.IDLE, metrics={"temperature": 24.0}), now_s=1.0)
    assert states(ev) == [DriverState.WORKING] and not finished(ev)  # not started yet, within the grace
    ev = t.update(MachineReport(P.PRINTING, name, progress=0.4, layer=12, layers_total=50, time_left_s=700.0,
                                metrics={"temperature": 210.0}), now_s=2.0)
    assert states(ev) == [DriverState.WORKING]
    assert [e.fraction for e in ev if isinstance(e, DriverJobProgress)] == [0.4]
    tele = next(e for e in ev if isinstance(e, DriverTelemetry))
    assert tele.job_id == job and tele.metrics["time_left_s"] == 700.0 and tele.metrics["time_left_est_s"] == 600.0
    assert tele.metrics["layer"] == 12 and tele.metrics["temperature"] == 210.0
    ev = t.update(MachineReport(P.PAUSED, name, progress=0.41), now_s=3.0)
    assert states(ev) == [DriverState.PAUSED]
    ev = t.update(MachineReport(P.FINISHED, name, progress=1.0), now_s=4.0)
    assert [f.outcome for f in finished(ev)] == [JobOutcome.COMPLETED] and states(ev) == [DriverState.IDLE]
    assert t.job is None
    # the machine keeps showing the finished file: nothing more happens, and it is not adopted again
    assert not finished(t.update(MachineReport(P.FINISHED, name, progress=1.0), now_s=5.0))
    assert t.job is None


def test_a_machine_that_goes_idle_at_the_last_percent_completes_the_job_at_100_percent():
    # Klipper and others report 99.95 % and then plain idle (no "complete" state seen between two polls)
    t = JobTracker("Klipper at http://k")
    job = uuid4()
    name = remote_name(job, "a.gcode")
    t.begin(job, name, estimate_s=10.0, now_s=0.0)
    t.update(MachineReport(P.PRINTING, name, progress=0.9995), now_s=1.0)
    ev = t.update(MachineReport(P.IDLE), now_s=2.0)
    assert [f.outcome for f in finished(ev)] == [JobOutcome.COMPLETED]
    assert [e.fraction for e in ev if isinstance(e, DriverJobProgress)] == [1.0]


def test_the_driver_passes_on_the_last_step_to_100_percent_however_small():
    # a print's last report may be 99.98 %: the finish (100 %) must still reach the job, not be dropped as noise
    d = network_driver("moonraker", name="voron", address="http://127.0.0.1:9", secrets={"api_key": "k"})
    seen: list = []
    d.add_listener(seen.append)
    job = uuid4()
    name = remote_name(job, "a.gcode")
    d.tracker.begin(job, name, estimate_s=10.0, now_s=0.0)
    for progress, t in ((0.5, 1.0), (0.9998, 2.0), (0.99985, 2.5)):
        d._apply(d.tracker.update(MachineReport(P.PRINTING, name, progress=progress), now_s=t))
    d._apply(d.tracker.update(MachineReport(P.FINISHED, name, progress=0.9999), now_s=3.0))
    fractions = [e.fraction for e in seen if isinstance(e, DriverJobProgress)]
    assert fractions == [0.5, 0.9998, 1.0]  # the 0.00005 step is noise; the end is not
    assert [f.outcome for f in finished(seen)] == [JobOutcome.COMPLETED]


def test_a_job_not_started_in_time_fails_and_one_stopped_on_the_machine_is_reported():
    t = JobTracker("x", start_grace_s=5.0)
    t.begin(uuid4(), "imewe-a.gcode", 0.0, now_s=0.0)
    ev = t.update(MachineReport(P.IDLE), now_s=6.0)
    assert [f.outcome for f in finished(ev)] == [JobOutcome.FAILED] and "did not start" in finished(ev)[0].message
    t.begin(uuid4(), "b.gcode", 0.0, now_s=10.0)
    t.update(MachineReport(P.PRINTING, "b.gcode", progress=0.2), now_s=11.0)
    ev = t.update(MachineReport(P.CANCELLED, "b.gcode"), now_s=12.0)
    assert [f.outcome for f in finished(ev)] == [JobOutcome.CANCELLED]


def test_an_error_is_one_fault_and_fails_the_job():
    t = JobTracker("Klipper at http://k")
    t.begin(uuid4(), "c.gcode", 0.0, now_s=0.0)
    t.update(MachineReport(P.PRINTING, "c.gcode", progress=0.5), now_s=1.0)
    ev = t.update(MachineReport(P.ERROR, "c.gcode", message="heater extruder not heating at expected rate"), 2.0)
    faults = [e for e in ev if isinstance(e, DriverFault)]
    assert len(faults) == 1 and "heater extruder" in faults[0].message
    assert [f.outcome for f in finished(ev)] == [JobOutcome.FAILED] and states(ev) == [DriverState.ERROR]
    again = t.update(MachineReport(P.ERROR, "c.gcode", message="heater extruder not heating at expected rate"), 3.0)
    assert not [e for e in again if isinstance(e, DriverFault)]  # the same error is not raised twice


def test_after_a_restart_our_job_on_the_machine_is_followed_not_started_again():
    job = uuid4()
    name = remote_name(job, "d.gcode")
    t = JobTracker("x")  # a fresh tracker: Imewe restarted while the machine printed
    ev = t.update(MachineReport(P.PRINTING, f"local/{name}", progress=0.7), now_s=0.0)
    assert t.job is not None and t.job.job_id == job and t.job.adopted
    assert [e.job_id for e in ev if isinstance(e, DriverJobProgress)] == [job]
    ev = t.update(MachineReport(P.FINISHED, f"local/{name}", progress=1.0), now_s=1.0)
    assert [(f.job_id, f.outcome) for f in finished(ev)] == [(job, JobOutcome.COMPLETED)]
    # someone else's print is shown as working but is no job of ours
    ev = t.update(MachineReport(P.PRINTING, "benchy.gcode", progress=0.1), now_s=2.0)
    assert states(ev) == [DriverState.WORKING] and t.job is None and "not sent by Imewe" in ev[0].reason


def test_a_job_we_cancelled_is_not_adopted_again_while_the_machine_winds_down():
    job = uuid4()
    name = remote_name(job, "e.gcode")
    t = JobTracker("x")
    t.begin(job, name, 0.0, 0.0)
    t.update(MachineReport(P.PRINTING, name, progress=0.3), 1.0)
    assert [f.outcome for f in t.end(JobOutcome.CANCELLED, "by operator")] == [JobOutcome.CANCELLED]
    t.update(MachineReport(P.BUSY, name), 2.0)  # "Cancelling" still names the file
    assert t.job is None


def test_backoff_is_capped_jittered_and_resets():
    b = Backoff(first_s=0.5, cap_s=4.0, rng=random.Random(1))
    delays = [b.next_delay_s() for _ in range(10)]
    assert 0.25 <= delays[0] <= 0.5 and all(d <= 4.0 for d in delays) and max(delays) > 2.0
    assert len(set(delays)) == len(delays)  # jittered
    b.reset()
    assert b.next_delay_s() <= 0.5
    with pytest.raises(ValueError):
        Backoff(first_s=0)


def test_secrets_are_owner_only_and_survive_an_update(tmp_path):
    store = SecretStore(tmp_path / "keys")
    node = uuid4()
    path = store.save(node, {"api_key": "s3cret", "empty": ""})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    store.update(node, fingerprint="ab:cd")
    assert store.load(node) == {"api_key": "s3cret", "fingerprint": "ab:cd"}
    assert store.load(uuid4()) == {}
    store.delete(node)
    assert store.load(node) == {}


def test_network_driver_kinds_say_what_is_missing():
    with pytest.raises(ValidationError, match="unknown network driver"):
        network_driver("teleporter", address="http://x", secrets={})


def test_found_machines_from_zeroconf_and_ssdp_say_what_to_ask():
    from app.core.discovery.zeroconf_discovery import Advert
    from app.devices.network.adding import capabilities_for, check_secrets, from_advert
    from app.devices.network.driver import MachineInfo

    octo = from_advert(Advert("octoprint", "Ender", "10.0.0.4", 80, {"version": "1.11.8", "model": "Ender-3"}))
    assert (octo.address, octo.model, octo.version, octo.asks_for) == ("http://10.0.0.4:80", "Ender-3", "1.11.8",
                                                                       ("api_key",))
    bambu = from_advert(Advert("bambu", "X1C", "10.0.0.5", 8883, {"serial": "01S0", "firmware": "01.08"}))
    assert bambu.address == "mqtts://10.0.0.5:8883" and bambu.serial == "01S0" and bambu.asks_for == ("access_code",)
    assert from_advert(Advert("imewe-node", "agent", "10.0.0.6", 7000, {})) is None
    with pytest.raises(ValidationError, match="give --access-code"):
        check_secrets("bambu", {"serial": "01S0", "access_code": "  "})
    caps = capabilities_for("prusalink", MachineInfo(capabilities={"build_volume_mm": [250, 210, 220]}),
                            {"build_volume_mm": [0, 0, 0], "loaded_material": "petg", "process": ""})
    assert caps["build_volume_mm"] == [250, 210, 220] and caps["loaded_material"] == "petg"
    assert caps["process"] == "fdm" and "file:.bgcode" in caps["features"]


def test_the_machine_detail_shows_both_time_left_figures():
    from app.ui.machine_detail import job_line

    assert job_line({"progress": 0.42, "layer": 12, "layers_total": 50, "time_left_s": 1380,
                     "time_left_est_s": 1200}) == ("This part: 42 %  ·  layer 12 of 50  ·  time left 23 min (machine) / "
                                                   "20 min (plan)")
    assert job_line({"progress": 0.1, "time_left_est_s": 36000}) == "This part: 10 %  ·  time left 10.0 h (plan)"
