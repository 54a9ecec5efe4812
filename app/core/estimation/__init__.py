"""Estimation: mesh loading and analysis, estimates before slicing, G-code parsing and time planning.

No Qt here: the job service, the CLI and the preview widgets all call these functions.
"""

from app.core.estimation.errors import (
    EmptyPartError,
    GcodeFileError,
    PartFileError,
    UnsupportedFormatError,
)
from app.core.estimation.mesh_analysis import PartAnalysis, analyze_file, analyze_part
from app.core.estimation.mesh_io import LoadedPart, PartObject, load_part, supported_suffixes
from app.core.estimation.orientation import MachineFit, Orientation, fitting_machines
from app.core.estimation.preslice import Estimate, estimate_cnc, estimate_fdm, estimate_resin, estimates_for

__all__ = [
    "EmptyPartError",
    "Estimate",
    "GcodeFileError",
    "LoadedPart",
    "MachineFit",
    "Orientation",
    "PartAnalysis",
    "PartFileError",
    "PartObject",
    "UnsupportedFormatError",
    "analyze_file",
    "analyze_part",
    "estimate_cnc",
    "estimate_fdm",
    "estimate_resin",
    "estimates_for",
    "fitting_machines",
    "load_part",
    "supported_suffixes",
]
