"""The Debian package of the desktop bundle (issue 17), checked from what it installs.

``./dev package`` builds ``build/package/imewe_<version>_<arch>.deb``; ``./dev package --check`` (a CI step after
the test suite) then runs this file. The package is unpacked with ``dpkg -x`` into a temporary root and Imewe runs
from there: ``--version``, ``schedule`` on a shared FJSP instance, a part report, and screenshots of the demo site
and of a part in Design review under Xvfb. The menu entry and MIME type it installs are validated, and a real
``dpkg --root`` install and purge shows that removing Imewe leaves the user's data alone.

Without a built package the tests skip (the normal test run does not build it); with IMEWE_REQUIRE_PACKAGE=1, as
in CI's package step, a missing package fails.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from app import __version__

ROOT = Path(__file__).resolve().parents[1]
SHARED_FJSP = ROOT.parent / "shared" / "bench" / "fjsp" / "brandimarte" / "mk01.fjs"
REQUIRED = os.environ.get("IMEWE_REQUIRE_PACKAGE") == "1"
INSTALLED = ("opt/imewe/imewe", "usr/bin/imewe", "usr/share/applications/imewe.desktop",
             "usr/share/mime/packages/imewe-gcode.xml", "usr/share/icons/hicolor/scalable/apps/imewe.svg",
             "lib/systemd/system/imewe-serve.service", "lib/systemd/system/imewe-node.service",
             "usr/lib/systemd/user/imewe-serve.service", "usr/lib/systemd/user/imewe-node.service")


def _deb() -> Path:
    debs = sorted((ROOT / "build" / "package").glob(f"imewe_{__version__}_*.deb"), key=lambda p: p.stat().st_mtime)
    if not debs:
        message = "no package built (run ./dev package)"
        if REQUIRED:
            pytest.fail(message + " and IMEWE_REQUIRE_PACKAGE=1")
        pytest.skip(message)
    return debs[-1]


@pytest.fixture(scope="module")
def deb() -> Path:
    return _deb()


@pytest.fixture(scope="module")
def unpacked(deb: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("deb-root")
    subprocess.run(["dpkg", "-x", str(deb), str(root)], check=True, timeout=300)
    return root


def _env(home: Path) -> dict[str, str]:
    """The environment of an operator's shell: no development paths, a fresh Imewe home."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "IMEWE_"))}
    env.update(IMEWE_HOME=str(home), IMEWE_DISCOVERY="0")
    return env


def _imewe(root: Path, home: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text("[sites]\nport = 0\n", encoding="utf-8")  # any free port for the site link
    return subprocess.run([str(root / "usr/bin/imewe"), *args], env=_env(home), cwd=home, capture_output=True,
                          text=True, timeout=timeout, check=False)


def test_control_fields_name_the_version_and_real_dependencies(deb: Path) -> None:
    fields = subprocess.run(["dpkg-deb", "-f", str(deb), "Package", "Version", "Architecture", "Depends"],
                            capture_output=True, text=True, check=True).stdout
    values = dict(line.split(": ", 1) for line in fields.splitlines())
    assert values["Package"] == "imewe" and values["Version"] == __version__
    assert values["Architecture"] == subprocess.run(["dpkg", "--print-architecture"], capture_output=True,
                                                    text=True, check=True).stdout.strip()
    # every dependency is a real package: the ones the bundle just ran against on this machine
    for dep in (d.strip() for d in values["Depends"].split(",")):
        status = subprocess.run(["dpkg-query", "-W", "-f", "${Status}", dep], capture_output=True, text=True)
        assert status.stdout.endswith("installed"), f"{dep}: {status.stdout or status.stderr}"


def test_layout_under_opt_with_imewe_on_the_path(unpacked: Path) -> None:
    for rel in INSTALLED:
        assert (unpacked / rel).exists(), rel
    link = unpacked / "usr/bin/imewe"
    assert link.is_symlink() and os.readlink(link) == "../../opt/imewe/imewe"
    assert os.access(unpacked / "opt/imewe/imewe", os.X_OK)
    # nothing outside the program's folder and the standard system places; never a user's data folder
    assert {p.name for p in unpacked.iterdir()} == {"opt", "usr", "lib"}
    assert {p.name for p in (unpacked / "usr").iterdir()} == {"bin", "share", "lib"}


def test_version_runs_from_the_unpacked_package(unpacked: Path, tmp_path: Path) -> None:
    proc = _imewe(unpacked, tmp_path / "home", "--version")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"imewe {__version__}"


def _fjsp_instance(tmp_path: Path) -> Path:
    if SHARED_FJSP.is_file():
        return SHARED_FJSP
    # no shared benchmarks beside the checkout: a small instance of the same format (3 jobs, 2 machines)
    made = tmp_path / "small.fjs"
    made.write_text("3 2 1\n2 2 1 3 2 4 1 2 2\n2 1 1 2 2 2 1 1 5\n1 2 1 4 2 3\n", encoding="utf-8")
    return made


def test_schedule_solves_an_fjsp_instance_with_the_bundled_or_tools(unpacked: Path, tmp_path: Path) -> None:
    instance = _fjsp_instance(tmp_path)
    proc = _imewe(unpacked, tmp_path / "home", "schedule", str(instance), "--time-limit", "2")
    assert proc.returncode == 0, proc.stderr
    assert "makespan" in proc.stdout and "(valid" in proc.stdout, proc.stdout


def test_learned_estimates_train_in_a_worker_process_of_the_bundle(unpacked: Path, tmp_path: Path) -> None:
    """Training runs in a spawned process: the frozen program must start it as a worker, not as a second imewe."""
    home = tmp_path / "home"
    assert _imewe(unpacked, home, "learn", "simulate", "200").returncode == 0
    proc = _imewe(unpacked, home, "learn", "train")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("v0001: active"), proc.stdout
    status = _imewe(unpacked, home, "--json", "learn", "status")
    assert status.returncode == 0 and json.loads(status.stdout)["active"], status.stdout + status.stderr


def test_bad_input_is_one_clear_line_from_the_bundle(unpacked: Path, tmp_path: Path) -> None:
    proc = _imewe(unpacked, tmp_path / "home", "schedule", str(tmp_path / "missing.fjs"))
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().startswith("imewe:") and len(proc.stderr.strip().splitlines()) == 1


def _stl(path: Path) -> Path:
    """A 20 mm cube as ASCII STL (12 triangles)."""
    v = [(x, y, z) for x in (0, 20) for y in (0, 20) for z in (0, 20)]
    faces = [(0, 2, 1), (1, 2, 3), (4, 5, 6), (5, 7, 6), (0, 1, 4), (1, 5, 4),
             (2, 6, 3), (3, 6, 7), (0, 4, 2), (2, 4, 6), (1, 3, 5), (3, 7, 5)]
    lines = ["solid cube"]
    for f in faces:
        lines += ["facet normal 0 0 0", "outer loop", *(f"vertex {' '.join(map(str, v[i]))}" for i in f[::-1]),
                  "endloop", "endfacet"]
    path.write_text("\n".join([*lines, "endsolid cube\n"]), encoding="utf-8")
    return path


def test_part_report_from_the_bundle(unpacked: Path, tmp_path: Path) -> None:
    proc = _imewe(unpacked, tmp_path / "home", "--json", "part", "info", str(_stl(tmp_path / "cube.stl")))
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["volume_mm3"] == pytest.approx(8000.0) and report["watertight"] and not report["inverted"]


def _display() -> None:
    if not os.environ.get("DISPLAY"):
        if REQUIRED:
            pytest.fail("no display: run under xvfb-run (./dev package --check does)")
        pytest.skip("no display (run under xvfb-run)")


def _looks_like_a_window(png: Path, size: tuple[int, int]) -> None:
    from PySide6.QtGui import QImage

    image = QImage(str(png))
    assert not image.isNull(), f"{png} is not an image"
    assert (image.width(), image.height()) == size
    colours = {image.pixel(x, y) for x in range(0, size[0], 17) for y in range(0, size[1], 13)}
    assert len(colours) > 20, "the screenshot is (nearly) one colour: nothing was drawn"


def test_demo_window_screenshot_from_the_bundle(unpacked: Path, tmp_path: Path) -> None:
    _display()
    png = tmp_path / "demo.png"
    proc = _imewe(unpacked, tmp_path / "home", "demo", "--screenshot", str(png), "--after", "3",
                  "--size", "1366x768", timeout=240)
    assert proc.returncode == 0, proc.stderr
    _looks_like_a_window(png, (1366, 768))
    shutil.copy(png, ROOT / "build" / "package" / "demo-from-package.png")  # kept for a person to look at


def test_part_opens_in_design_review_with_the_bundled_vtk(unpacked: Path, tmp_path: Path) -> None:
    _display()
    png = tmp_path / "review.png"
    part = _stl(tmp_path / "cube.stl")
    proc = _imewe(unpacked, tmp_path / "home", "open", str(part), "--screenshot", str(png), "--after", "3",
                  timeout=240)
    assert proc.returncode == 0, proc.stderr
    from PySide6.QtGui import QImage

    image = QImage(str(png))
    assert not image.isNull() and image.width() > 600
    shutil.copy(png, ROOT / "build" / "package" / "review-from-package.png")


def test_menu_entry_and_mime_type_as_installed(unpacked: Path, tmp_path: Path) -> None:
    validate = shutil.which("desktop-file-validate")
    update = shutil.which("update-mime-database")
    if validate is None or update is None:
        message = "desktop-file-validate / update-mime-database missing (apt: desktop-file-utils shared-mime-info)"
        if REQUIRED:
            pytest.fail(message)
        pytest.skip(message)
    desktop = unpacked / "usr/share/applications/imewe.desktop"
    proc = subprocess.run([validate, str(desktop)], capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout + proc.stderr
    text = desktop.read_text(encoding="utf-8")
    assert "\nExec=imewe open %f\n" in text and "\nIcon=imewe\n" in text
    for mime in ("model/stl", "model/3mf", "model/obj", "text/x.gcode"):
        assert mime in text.split("\nMimeType=", 1)[1].splitlines()[0].split(";")
    # the MIME type builds into a shared-mime-info database with every G-code ending
    mime_root = tmp_path / "mime"
    shutil.copytree(unpacked / "usr/share/mime/packages", mime_root / "packages")
    subprocess.run([update, str(mime_root)], check=True, capture_output=True, timeout=60)
    globs = (mime_root / "globs2").read_text(encoding="utf-8")
    for ending in ("*.gcode", "*.gco", "*.ngc"):
        assert f":text/x.gcode:{ending}" in globs


def test_install_and_purge_leave_user_data_alone(deb: Path, tmp_path: Path) -> None:
    """A real dpkg install into a scratch root (its own package database), then a purge."""
    if os.geteuid() != 0:
        pytest.skip("dpkg --root install needs root")
    root = tmp_path / "system"
    for d in ("var/lib/dpkg/info", "var/lib/dpkg/updates"):
        (root / d).mkdir(parents=True)
    (root / "var/lib/dpkg/status").touch()
    dpkg = ["dpkg", f"--root={root}", "--force-script-chrootless", "--log=/dev/null"]
    proc = subprocess.run([*dpkg, "--force-depends", "-i", str(deb)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    home = root / "home/op/.local/share/imewe"
    version = _imewe(root, home, "--version")
    assert version.stdout.strip() == f"imewe {__version__}", version.stderr
    service_data = root / "var/lib/imewe"
    service_data.mkdir(parents=True)
    (service_data / "imewe.db").write_bytes(b"site data")
    (home / "imewe.db").write_bytes(b"operator data")
    proc = subprocess.run([*dpkg, "--purge", "imewe"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    for rel in INSTALLED:
        assert not (root / rel).exists() and not (root / rel).is_symlink(), f"{rel} left after purge"
    assert not (root / "opt/imewe").exists()
    assert (home / "imewe.db").read_bytes() == b"operator data"
    assert (home / "config.toml").exists()
    assert (service_data / "imewe.db").read_bytes() == b"site data"
