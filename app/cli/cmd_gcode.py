"""``imewe gcode info FILE``: planner time estimate, filament, layers and per-feature time of a G-code file."""

from __future__ import annotations

import argparse
from typing import Any

from app.cli.output import dumps
from app.core.estimation.gcode_analysis import analyze_gcode


def register(sub: Any) -> None:
    parser = sub.add_parser("gcode", help="inspect G-code files (printers, CNC, lasers)")
    gsub = parser.add_subparsers(dest="gcode_command", metavar="ACTION", required=True)
    info = gsub.add_parser("info", help="time estimate, filament and layers of a G-code file")
    info.add_argument("file", help="G-code file")
    info.add_argument("--flavor", choices=("printer", "cnc", "laser"), help="override the detected machine kind")
    info.add_argument("--material", help="filament material for the weight (default: from the file, else PLA)")
    info.add_argument("--json", dest="json", action="store_true", default=argparse.SUPPRESS, help="JSON output")
    info.set_defaults(handler=_info)


def _info(args: argparse.Namespace) -> int:
    a = analyze_gcode(args.file, flavor=args.flavor, material=args.material)
    if getattr(args, "json", False):
        print(dumps(a.to_dict()))
        return 0
    print(f"file        {a.path} ({a.flavor}, {a.lines} lines, {a.moves} moves)")
    slicer = ""
    if a.slicer_time_s:
        slicer = f"  (slicer says {_hms(a.slicer_time_s)}, difference {a.slicer_difference:+.1%})"
    print(f"time        {_hms(a.estimated_time_s)}{slicer}")
    print(f"            {a.time_basis}")
    if a.flavor == "printer":
        print(f"filament    {a.filament_mm:.0f} mm, {a.filament_g:.1f} g  [{a.filament_basis}]")
    print(f"layers      {a.layers}")
    bx = a.bbox_mm
    print(f"extent      {bx[0]:.1f} x {bx[1]:.1f} x {bx[2]:.1f} mm{' (file in inches)' if a.units_inch else ''}")
    print(f"paths       working {a.work_mm / 1000:.2f} m, travel {a.travel_mm / 1000:.2f} m")
    for name, t in sorted(a.feature_time_s.items(), key=lambda kv: -kv[1]):
        print(f"  {name:<24}{_hms(t)}")
    return 0


def _hms(s: float) -> str:
    h, rem = divmod(int(round(s)), 3600)
    m, sec = divmod(rem, 60)
    return f"{h}h {m:02d}m {sec:02d}s"
