"""Catalogue: parametric templates (built-in meshes, OpenSCAD), playbooks run through the real scheduler, versions."""

from __future__ import annotations

import json
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
import trimesh

from app.cli.main import main
from app.core.catalog import playbooks, templates
from app.core.catalog.openscad import OpenScadError, openscad_program
from app.core.domain import ProcessType, ValidationError
from app.core.scheduling import build_problem, optimize

from .helpers import run_with_core

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
SCAD = """width = 20; // [5:100] outside width
depth = 10.5; // [1:50]
label = "A1";
module tag() { cube([width, depth, 2]); }
tag();
"""


def readme_playbook() -> dict:
    blocks = re.findall(r"```json\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), re.S)
    found = [json.loads(b) for b in blocks if '"steps"' in b]
    assert found, "README.md should show an example playbook"
    return found[0]


def test_made_box_has_the_volume_and_size_its_parameters_say(tmp_path, db_url) -> None:
    async def go(core):
        box = await templates.make(core.store, tmp_path, "box", {"length": "12.5", "width": 20, "height": "8"})
        bracket = await templates.make(core.store, tmp_path, "bracket",
                                       {"length": 30, "height": 50, "width": 10, "thickness": 3})
        spacer = await templates.make(core.store, tmp_path, "spacer",
                                      {"outer_diameter": 20, "inner_diameter": 10, "height": 5})
        return box, bracket, spacer

    box, bracket, spacer = run_with_core(tmp_path, db_url, go)
    mesh = trimesh.load_mesh(box["file"])  # read back from the STL written into the home's files/
    assert Path(box["file"]).parent == tmp_path / "files"
    assert mesh.is_watertight and mesh.volume == pytest.approx(12.5 * 20 * 8, rel=1e-6)
    assert sorted(mesh.extents) == pytest.approx(sorted([12.5, 20, 8]))
    assert box["values"]["material"] == "pla" and box["job_spec"]["parts"][0]["file"] == box["file"]
    b = trimesh.load_mesh(bracket["file"])
    assert b.is_watertight and b.volume == pytest.approx((30 * 3 + 3 * 47) * 10, rel=1e-6)
    import math
    assert spacer["volume_mm3"] == pytest.approx(math.pi * (10**2 - 5**2) * 5, rel=0.01)  # 96-sided tube


BAD = [
    ({"length": "0.5"}, "length='0.5' is not allowed (out of limits); allowed: length: number 1 to 1000 mm"),
    ({"height": "tall"}, "height='tall' is not allowed (not a number)"),
    ({"colour": "red"}, "template box has no parameter colour; it takes: length: number 1 to 1000 mm"),
    ({"quantity": "2.5"}, "not a whole number"),
    ({"material": "cheese"}, "allowed: material: one of abs,"),
]


def test_bad_parameters_name_what_is_allowed_and_write_nothing(tmp_path, db_url) -> None:
    async def go(core):
        said = []
        for given, _ in BAD:
            with pytest.raises(ValidationError) as err:
                await templates.make(core.store, tmp_path, "box", given)
            said.append(str(err.value))
        return said

    for (_, expected), got in zip(BAD, run_with_core(tmp_path, db_url, go), strict=True):
        assert expected in got
    assert not (tmp_path / "files").exists() or not list((tmp_path / "files").iterdir())


def test_openscad_templates_keep_versions_and_render_or_say_it_is_missing(tmp_path, db_url) -> None:
    scad = tmp_path / "tag.scad"
    scad.write_text(SCAD, encoding="utf-8")

    async def go(core):
        first = await templates.add_scad(core.store, scad)
        again = await templates.add_scad(core.store, scad)
        scad.write_text(SCAD.replace("[5:100]", "[5:60]"), encoding="utf-8")
        second = await templates.add_scad(core.store, scad)
        v1 = await templates.get_template(core.store, "tag", 1)
        latest = await templates.get_template(core.store, "tag")
        with pytest.raises(ValidationError, match=r"width: whole number 5 to 60"):
            await templates.make(core.store, tmp_path, "tag", {"width": 80})
        try:
            made = await templates.make(core.store, tmp_path, "tag", {"width": 30, "label": "B2"})
        except OpenScadError as exc:
            made = str(exc)
        return first, again, second, v1, latest, made

    first, again, second, v1, latest, made = run_with_core(tmp_path, db_url, go)
    assert (first["version"], again["version"], again["unchanged"], second["version"]) == (1, 1, True, 2)
    widths = {t["version"]: next(p for p in t["params"] if p["name"] == "width") for t in (v1, latest)}
    assert (widths[1]["max"], widths[2]["max"], widths[2]["kind"]) == (100, 60, "count")
    assert next(p for p in latest["params"] if p["name"] == "depth")["kind"] == "number"
    if shutil.which("openscad"):
        assert made["volume_mm3"] == pytest.approx(30 * 10.5 * 2, rel=1e-3)
    else:  # not installed here (apt package openscad pulls in Qt 5): the one-line message an operator sees
        assert made.startswith("OpenSCAD is not installed: install it (apt install openscad)")
        with pytest.raises(OpenScadError, match="not installed"):
            openscad_program()


def test_templates_cli_makes_submits_and_refuses_bad_input(tmp_path, capsys) -> None:
    home = str(tmp_path / "home")
    assert main(["--home", home, "templates", "make", "box", "length=10", "oops"]) == 2
    assert "key=value" in capsys.readouterr().err
    assert main(["--home", home, "templates", "make", "plate", "thickness=99"]) == 2
    assert "thickness: number 0.5 to 50 mm" in capsys.readouterr().err
    assert main(["--home", home, "nodes", "add", "P1", "--process", "fdm", "--materials", "pla"]) == 0
    capsys.readouterr()
    assert main(["--home", home, "--json", "templates", "make", "box", "length=10", "width=10", "height=10",
                 "--submit"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["volume_mm3"] == pytest.approx(1000) and out["job"]["state"] == "VALIDATED"
    assert out["job"]["parts"][0]["size_mm"] == pytest.approx([10, 10, 10])
    assert main(["--home", home, "templates", "make", "nosuch"]) == 2
    assert "no template 'nosuch'" in capsys.readouterr().err


SLA = {"process": "sla", "build_volume_mm": [140, 80, 160], "materials": ["resin-tough", "resin-standard"],
       "loaded_material": "resin-tough", "max_power_w": 80}
WASH = {"process": "post_processing", "max_power_w": 200}
MILL = {"process": "cnc_mill", "build_volume_mm": [400, 300, 150], "materials": ["aluminium"], "max_power_w": 1500}
CMM = {"process": "inspection", "max_power_w": 50}


def test_playbook_runs_its_steps_in_order_on_the_right_processes_and_keeps_versions(tmp_path, db_url) -> None:
    recipe = readme_playbook()

    async def go(core):
        for name, caps in (("Form", SLA), ("Wash", WASH), ("Mill", MILL), ("CMM", CMM), ("Form 2", SLA)):
            await core.fleet.register(name, caps, bring_up=True)
        first = await playbooks.add(core.store, recipe)
        same = await playbooks.add(core.store, recipe)
        changed = json.loads(json.dumps(recipe))
        changed["steps"][1]["duration_s"] = 2400
        second = await playbooks.add(core.store, changed)
        with pytest.raises(ValidationError, match=r"copies: whole number 1 to 20"):
            await playbooks.job_spec(core.store, tmp_path, recipe["name"], {"copies": 50})
        spec = await playbooks.job_spec(core.store, tmp_path, recipe["name"], {"copies": "2"}, version=1)
        job = await core.jobs.submit(spec)
        return first, same, second, spec, await core.jobs.get(job.id), core.fleet.list()

    first, same, second, spec, job, nodes = run_with_core(tmp_path, db_url, go)
    assert (first["version"], same["unchanged"], second["version"]) == (1, True, 2)
    assert spec["metadata"]["playbook_version"] == 1 and spec["metadata"]["checks"]
    procs = [p.process for p in job.parts]
    assert procs == [ProcessType.SLA, ProcessType.POST_PROCESSING, ProcessType.CNC_MILL, ProcessType.INSPECTION]
    assert job.parts[0].quantity == 2 and job.parts[0].file_path  # printed from the bracket template's mesh
    built = build_problem([job], nodes, NOW)
    plan = optimize(built.problem, time_limit_s=0.3)
    by_node = {n.id: n for n in nodes}
    got = built.assignments(plan)
    steps: dict[str, list] = {}
    for ref, a in zip(built.ops, got, strict=True):
        part = next(p for p in job.parts if p.id == ref.part_id)
        assert by_node[a.node_id].capabilities.process is part.process  # each step on a machine of its process
        steps.setdefault(part.name, []).append(a)
    names = {p.id: p.name for p in job.parts}
    waits = {p.name: sorted(names[d] for d in p.depends_on) for p in job.parts}
    assert waits == {"print": [], "wash and cure": ["print"], "machine base": [],
                     "inspect": ["machine base", "wash and cure"]}
    for step, before in waits.items():
        for b in before:
            assert max(a.end for a in steps[b]) <= min(a.start for a in steps[step])
    assert {by_node[a.node_id].name for a in steps["print"]} == {"Form", "Form 2"}  # two copies, two printers


@pytest.mark.parametrize(("change", "said"), [
    (lambda r: r["steps"][2].update(after=["nowhere"]), "may wait only for steps listed before it"),
    (lambda r: r["steps"][0].update(process="weld"), "unknown process 'weld'"),
    (lambda r: r["steps"][0].update(script="rm -rf /"), "unknown key 'script'"),
    (lambda r: r.update(code="x"), "unknown key 'code'"),
])
def test_bad_playbooks_are_refused_with_one_line(tmp_path, change, said) -> None:
    recipe = readme_playbook()
    change(recipe)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(recipe), encoding="utf-8")
    with pytest.raises(ValidationError, match=re.escape(said)):
        playbooks.read_playbook(bad)


def test_playbooks_cli_add_show_run_from_toml(tmp_path, capsys) -> None:
    home = str(tmp_path / "home")
    toml = tmp_path / "cut.toml"
    toml.write_text('name = "cut and check"\n[parameters.side]\nkind = "length"\ndefault = 30\nmin = 10\n'
                    'max = 100\n[[steps]]\nname = "mill"\nprocess = "machine"\nmaterial = "aluminium"\n'
                    'size = ["{side}", "{side}", 5]\n[[steps]]\nname = "inspect"\nprocess = "inspect"\n'
                    'check = "flatness under 0.05 mm"\n', encoding="utf-8")
    assert main(["--home", home, "nodes", "add", "M1", "--process", "cnc_mill", "--materials", "aluminium"]) == 0
    assert main(["--home", home, "nodes", "add", "CMM", "--process", "inspection"]) == 0
    capsys.readouterr()
    assert main(["--home", home, "playbooks", "add", str(toml)]) == 0
    assert "version 1" in capsys.readouterr().out
    assert main(["--home", home, "playbooks", "show", "cut and check"]) == 0
    assert "check: flatness under 0.05 mm" in capsys.readouterr().out
    assert main(["--home", home, "playbooks", "run", "cut and check", "side=500"]) == 2
    assert "side: number 10 to 100 mm" in capsys.readouterr().err
    assert main(["--home", home, "--json", "playbooks", "run", "cut and check", "side=40"]) == 0
    job = json.loads(capsys.readouterr().out)
    assert [(p["name"], p["process"], p["size_mm"]) for p in job["parts"]] == [
        ("mill", "cnc_mill", [40, 40, 5]), ("inspect", "inspection", [40, 40, 5])]
    assert job["name"] == "cut and check v1"
