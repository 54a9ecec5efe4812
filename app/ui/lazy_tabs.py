"""Tabs built the first time they are shown (issue 17: the window's first frame does not wait for them).

The window's tabs after the four core ones (energy charts, linked sites, Design review, what-if, admin) each cost
time to build and are not on screen when the window opens. Each starts as an empty placeholder with its title;
the real panel is built when its tab becomes current, or when code asks for it (``panels["energy"]``), and takes
the placeholder's place at the same index, so tab order, titles and the Ctrl+number shortcuts do not change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Generic, TypeVar

from PySide6.QtWidgets import QTabWidget, QWidget

S = TypeVar("S")


class LazyTabs(Mapping[str, QWidget], Generic[S]):
    """Tab panels by lower-case title, built on first use. ``built(name)`` peeks without building."""

    def __init__(self, tabs: QTabWidget, specs: Mapping[str, tuple[str, S]],
                 build: Callable[[S], QWidget]) -> None:
        self._tabs = tabs
        self._specs = dict(specs)  # key -> (title, spec)
        self._build = build
        self._built: dict[str, QWidget] = {}
        self._placeholders: dict[str, QWidget] = {}
        for key, (title, _spec) in self._specs.items():
            placeholder = QWidget()
            placeholder.setObjectName("tabNotBuiltYet")
            tabs.addTab(placeholder, title)
            self._placeholders[key] = placeholder
        tabs.currentChanged.connect(self._on_current)

    def __getitem__(self, key: str) -> QWidget:
        panel = self._built.get(key)
        if panel is not None:
            return panel
        if key not in self._specs:
            raise KeyError(key)
        return self._materialise(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def built(self, key: str) -> QWidget | None:
        return self._built.get(key)

    def _on_current(self, index: int) -> None:
        widget = self._tabs.widget(index)
        for key, placeholder in self._placeholders.items():
            if placeholder is widget and key not in self._built:
                self._materialise(key)
                return

    def _materialise(self, key: str) -> QWidget:
        title, spec = self._specs[key]
        placeholder = self._placeholders[key]
        panel = self._build(spec)
        self._built[key] = panel  # before the swap: the swap's own tab changes must not build it again
        index = self._tabs.indexOf(placeholder)
        was_current = self._tabs.currentIndex() == index
        blocked = self._tabs.blockSignals(True)  # one tab, swapped in place: no "current tab changed" for it
        try:
            self._tabs.insertTab(index, panel, title)
            self._tabs.removeTab(index + 1)
            if was_current:
                self._tabs.setCurrentIndex(index)
        finally:
            self._tabs.blockSignals(blocked)
        placeholder.deleteLater()
        return panel
