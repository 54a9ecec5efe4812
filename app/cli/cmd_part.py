"""``imewe part info FILE``: what a part file holds, whether it is sound, and rough estimates."""

from __future__ import annotations

import argparse
from typing import Any

from app.cli.args import finite_float
from app.cli.output import dumps
from app.core.estimation import analyze_file, estimates_for
from app.core.estimation.mesh_analysis import UNIT_MM


def register(sub: Any) -> None:
    parser = sub.add_parser("part", help="inspect part files (STL, OBJ, PLY, 3MF, GLB/GLTF)")
    psub = parser.add_subparsers(dest="part_command", metavar="ACTION", required=True)
    info = psub.add_parser("info", help="analysis and estimates of a part file")
    info.add_argument("file", help="part file")
    info.add_argument("--overhang", type=finite_float, default=45.0, help="overhang angle from vertical, degrees (45)")
    info.add_argument("--units", choices=("auto", "mm", "inch", "m"), default="auto",
                      help="file units for the estimates (auto: the analysis' guess)")
    info.add_argument("--json", dest="json", action="store_true", default=argparse.SUPPRESS, help="JSON output")
    info.set_defaults(handler=_info)


def _info(args: argparse.Namespace) -> int:
    a = analyze_file(args.file, args.overhang)
    unit_name = a.units_guess if args.units == "auto" else args.units
    scale = UNIT_MM.get(unit_name, 1.0)
    inch = unit_name == "inch"
    ests = estimates_for(a, scale)
    if getattr(args, "json", False):
        d = a.to_dict()
        d["estimates"] = [e.to_dict() for e in ests]
        d["scale_to_mm"] = scale
        print(dumps(d))
        return 0
    bx = a.bbox_mm
    print(f"file        {a.path} ({a.format}, {a.triangles} triangles, {len(a.objects)} object(s))")
    print(f"size        {bx[0]:.2f} x {bx[1]:.2f} x {bx[2]:.2f} (units: {a.units_guess}; {a.units_basis})")
    unit = "in" if inch else unit_name
    print(f"volume      {a.volume_mm3:.2f} {unit}3    area {a.area_mm2:.2f} {unit}2")
    print(f"watertight  {'yes' if a.watertight else 'no'}  holes {a.holes}  open edges {a.boundary_edges}  "
          f"non-manifold edges {a.non_manifold_edges}  flipped-normal edges {a.inconsistent_normal_edges}")
    print(f"bodies      {a.bodies}")
    print(f"overhangs   {a.overhang_area_mm2:.2f} {unit}2 beyond {a.overhang_angle_deg:g} deg")
    if len(a.objects) > 1:
        for o in a.objects:
            print(f"  object {o.name}: {o.triangles} triangles, {o.volume_mm3:.1f} mm3, "
                  f"{o.bbox_mm[0]:.1f} x {o.bbox_mm[1]:.1f} x {o.bbox_mm[2]:.1f}")
    for w in a.warnings:
        print(f"warning     {w}")
    if scale != 1.0:
        print(f"scale       file units read as {unit_name}: estimates use x{scale:g} (pass --units mm to override)")
    for r in a.repairs:
        print(f"repaired    {r} (volume, area and estimates are of the repaired mesh)")
    for e in ests:
        print(f"estimate    {e.process}: {e.material_g:.1f} g, {_hms(e.time_s)}  [{e.basis}]")
    return 0


def _hms(s: float) -> str:
    h, rem = divmod(int(round(s)), 3600)
    m, sec = divmod(rem, 60)
    return f"{h}h {m:02d}m {sec:02d}s"
