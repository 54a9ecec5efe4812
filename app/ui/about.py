"""The About box: what runs here, with versions (what support asks first)."""

from __future__ import annotations

import platform
import sys
from importlib import metadata

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import qVersion
from PySide6.QtWidgets import QMessageBox, QWidget

from app import __version__
from app.ui.ports import SiteInfo


def versions() -> dict[str, str]:
    out = {"Imewe": __version__, "Python": sys.version.split()[0], "Qt": qVersion(), "PySide6": pyside_version,
           "OS": f"{platform.system()} {platform.release()}"}
    for dist in ("pyqtgraph", "qasync", "numpy", "SQLAlchemy", "trimesh", "pyvista"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def about_text(site: SiteInfo) -> str:
    rows = "".join(f"<tr><td>{k}</td><td><b>{v}</b></td></tr>" for k, v in versions().items())
    return (f"<h2>Imewe {__version__}</h2><p>Control room for fabrication fleets.</p>"
            f"<p>Site: <b>{site.name}</b><br>Data: {site.home}<br>"
            f"Database: {site.database}<br>Log: {site.log_file}</p><table cellspacing='6'>{rows}</table>")


def show_about(parent: QWidget, site: SiteInfo) -> QMessageBox:
    box = QMessageBox(QMessageBox.Icon.Information, "About Imewe", about_text(site), QMessageBox.StandardButton.Ok,
                      parent)
    box.setObjectName("aboutBox")
    box.finished.connect(lambda _r: box.deleteLater())
    box.open()
    return box
