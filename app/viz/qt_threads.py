"""Worker threads beside Qt: garbage collected on the UI thread only, and no source reading at each import.

Python runs its cyclic garbage collector in whichever thread happens to allocate past the threshold. A worker
thread that allocates a lot (a module imported for the first time, a mesh read) could so free Qt objects left in
reference cycles (a closed dialog, a panel of a closed window) from that worker thread; Qt objects must die on
their own thread, and one that did not left a dangling timer that crashed the UI thread later. ``UiThreadGc``
switches the automatic collector off and collects on a timer of the UI thread instead, generation by generation
as the thresholds say (the same scheme pyqtgraph documents for Qt programs).

PySide6 (6.11) also hooks every import to find modules that say ``from __feature__ import ...`` and reads each
new module's source with ``inspect.getsource`` to decide; Imewe never uses ``__feature__`` (snake_case,
true_property), so ``allow_imports_in_threads`` switches that check off: imports cost no source reading, on any
thread (about a third of SciPy's and trimesh's import time here).
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer


class UiThreadGc(QObject):
    """Collects cyclic garbage on the thread that creates it (the UI thread), every ``interval_ms``."""

    def __init__(self, interval_ms: int = 1000, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._was_enabled = gc.isenabled()
        gc.disable()
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.check)
        self._timer.start(interval_ms)

    def check(self) -> None:
        collect_due()

    def stop(self) -> None:
        """Back to the automatic collector (tests, shutdown)."""
        self._timer.stop()
        gc.collect()
        if self._was_enabled:
            gc.enable()


def collect_due() -> None:
    """Collect the oldest generation whose count is past its threshold (as the automatic collector would), here,
    on the calling thread."""
    counts, limits = gc.get_count(), gc.get_threshold()
    for gen in (2, 1, 0):
        if counts[gen] > limits[gen]:
            gc.collect(gen)
            return


def allow_imports_in_threads() -> bool:
    """Switch PySide6's per-import source check off (idempotent); False when this PySide6 has no such hook."""
    try:
        from shibokensupport import feature  # type: ignore[import-not-found]
    except ImportError:
        return False
    if not hasattr(feature, "_mod_uses_pyside"):
        return False
    feature._mod_uses_pyside = _never_a_feature_module
    return True


def _never_a_feature_module(_module: object) -> bool:
    return False
