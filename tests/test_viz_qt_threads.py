"""Garbage collected on the UI thread only, and no source reading at each import under PySide6."""

from __future__ import annotations

import gc
import threading
import weakref

import pytest

pytest.importorskip("PySide6")

from app.viz.qt_threads import UiThreadGc, allow_imports_in_threads  # noqa: E402


class _Cycle:
    def __init__(self) -> None:
        self.me = self


def test_cycles_made_on_a_worker_are_freed_by_the_ui_thread_timer(qtbot) -> None:
    was = gc.isenabled()  # off for the whole test run (conftest), as in the application
    collector = UiThreadGc(interval_ms=20)
    try:
        assert not gc.isenabled()
        refs: list[weakref.ref] = []

        def worker() -> None:  # allocates well past every threshold: the automatic collector would run here
            for _ in range(50_000):
                refs.append(weakref.ref(_Cycle()))

        t = threading.Thread(target=worker)
        t.start()
        t.join()
        assert sum(r() is not None for r in refs) > 40_000  # nothing was collected on the worker
        qtbot.waitUntil(lambda: all(r() is None for r in refs), timeout=5000)  # the UI thread's timer did it
    finally:
        collector.stop()
    assert gc.isenabled() == was  # back to what it was


def test_imports_read_no_source_for_pyside_feature_checks() -> None:
    if not allow_imports_in_threads():
        pytest.skip("this PySide6 has no per-import feature check")
    from shibokensupport import feature

    assert feature._mod_uses_pyside(gc) is False
