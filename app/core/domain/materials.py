"""Known materials per process, with densities for mass estimates (g/cm3)."""

from __future__ import annotations

from app.core.domain.enums import ProcessType

P = ProcessType
DENSITY_G_CM3: dict[str, float] = {
    "pla": 1.24, "petg": 1.27, "abs": 1.04, "asa": 1.07, "tpu": 1.21, "nylon": 1.14, "pc": 1.20,
    "pla-cf": 1.29, "resin-standard": 1.15, "resin-tough": 1.18, "resin-castable": 1.10,
    "pa12": 1.01, "pa11": 1.03, "aluminium": 2.70, "steel": 7.85, "brass": 8.50, "pom": 1.41,
    "hdpe": 0.95, "acrylic": 1.18, "plywood": 0.60, "mdf": 0.75, "cardboard": 0.69, "leather": 0.86,
}

MATERIALS_BY_PROCESS: dict[ProcessType, frozenset[str]] = {
    P.FDM: frozenset({"pla", "petg", "abs", "asa", "tpu", "nylon", "pc", "pla-cf"}),
    P.SLA: frozenset({"resin-standard", "resin-tough", "resin-castable"}),
    P.SLS: frozenset({"pa12", "pa11"}),
    P.MJF: frozenset({"pa12", "pa11"}),
    P.CNC_MILL: frozenset({"aluminium", "steel", "brass", "pom", "hdpe", "acrylic", "mdf", "plywood"}),
    P.CNC_LATHE: frozenset({"aluminium", "steel", "brass", "pom"}),
    P.LASER: frozenset({"acrylic", "plywood", "mdf", "cardboard", "leather"}),
    # Processes that work on parts made elsewhere take any material.
    P.ROBOT_ARM: frozenset(),
    P.PICK_AND_PLACE: frozenset(),
    P.INSPECTION: frozenset(),
    P.POST_PROCESSING: frozenset(),
}

KNOWN_MATERIALS: frozenset[str] = frozenset(DENSITY_G_CM3)


def process_takes_any_material(process: ProcessType) -> bool:
    return not MATERIALS_BY_PROCESS[process]


def material_fits_process(material: str, process: ProcessType) -> bool:
    return process_takes_any_material(process) or material in MATERIALS_BY_PROCESS[process]
