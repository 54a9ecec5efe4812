"""A 3D view that turns smoothly without starving the window's event loop.

Software OpenGL (llvmpipe: Xvfb, remote desktops, machines without a GPU driver) draws on the UI thread, and what
a frame costs there is mostly its pixels (measured on this project's 2-core box, a 1100 x 712 view with a
20k-triangle part: the frame ~170 ms under load, ~85 ms of it FXAA; the same at half width and height ~40 ms; an
empty scene costs nearly as much as the part). Drawing a frame for every mouse move of a drag therefore kept the
loop busy all the time, and the machines' live figures waited behind the frames.

So while the view is being turned, panned or zoomed (from VTK's StartInteractionEvent until it has been still for
``REST_MS`` after the last EndInteractionEvent), ``TurningInteractor``:

- lets a mouse move only move the camera (VTK's interactor does not render); a timer draws the frames, at most
  one each ``FRAME_MS``, and after each frame the loop gets at least as long as that frame took to draw and to
  show (Qt composes the window through OpenGL too) before the next one, so the view never takes more than half
  of the loop however slow the machine is;
- draws those frames at ``TURN_SCALE`` of the view's resolution, without FXAA; the blit into the widget scales
  them up (mouse positions are read in the smaller frame's pixels, so the turn follows the mouse as before);
- shows the last frame again when the window around it repaints, instead of drawing a new one.

At rest it emits ``came_to_rest`` (the part view puts its full mesh back) and draws one frame at full resolution
with FXAA. Outside a turn, a repaint that only shows a frame VTK has just drawn blits it instead of drawing it a
second time (pyvistaqt's widget draws on every paint, so each ``render()`` cost two frames).
"""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import QTimer, Signal
from pyvistaqt import QtInteractor

FRAME_MS = 50  # while turning, at most one frame this often (20 frames/s)
TURN_SCALE = 0.5  # ... drawn at half the width and height: a quarter of the pixels
REST_MS = 200  # the view is at rest this long after the last turn or zoom (a quick second drag stays cheap)


class TurningInteractor(QtInteractor):
    """pyvistaqt's interactor with paced, cheaper frames while the view turns (see the module's text)."""

    turn_started = Signal()
    came_to_rest = Signal()
    # read by VTK's and Qt's callbacks, some of which may come while pyvistaqt's __init__ runs
    turning = False
    _scale = 1.0
    _fresh = False  # VTK has just drawn a frame that no paint has shown yet

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.turn_scale = TURN_SCALE
        self.moves = 0  # interaction steps (mouse moves of a drag, wheel steps) since the view was made
        self.frames_drawn = 0  # frames drawn while turning
        self._fxaa = False
        self._dirty = False
        self._last_start = self._last_end = 0.0  # perf_counter() seconds: long ago
        self._last_took = 0.0
        self._composing = 0.0
        self._last_composed = 0.0  # how long Qt took to show the last frame (compose the window, swap)
        self.aboutToCompose.connect(self._compose_starts)
        self.frameSwapped.connect(self._compose_ends)
        self._frame = QTimer(self)
        self._frame.setSingleShot(True)
        self._frame.timeout.connect(self._draw_frame)
        self._rest = QTimer(self)
        self._rest.setSingleShot(True)
        self._rest.setInterval(REST_MS)
        self._rest.timeout.connect(self._come_to_rest)
        style = self.iren.interactor.GetInteractorStyle()
        self._style_tags = [(style, style.AddObserver(event, handler)) for event, handler in (
            ("StartInteractionEvent", self._on_start), ("InteractionEvent", self._on_step),
            ("EndInteractionEvent", self._on_end))]

    def close(self) -> bool:  # type: ignore[override]
        self._frame.stop()
        self._rest.stop()
        for obj, tag in self._style_tags:  # VTK would keep this widget alive through the bound methods
            obj.RemoveObserver(tag)
        self._style_tags = []
        return bool(super().close())

    # --- the turn ------------------------------------------------------------------------------------
    def _on_start(self, *_args: Any) -> None:
        self._rest.stop()
        if self.turning:
            return  # a second drag before the view came to rest: it goes on as it was
        self.turning = True
        self._fxaa = bool(self.renderer.GetUseFXAA())
        self.renderer.SetUseFXAA(False)
        self._Iren.EnableRenderOff()  # the interactor style's render after each step now only moves the camera
        self._scale = self.turn_scale
        self._size_render_window()  # now: the interactor style reads its size to turn the camera
        iren = self._Iren  # the press that started the turn was read at full resolution: read it again
        x, y = iren.GetEventPosition()
        iren.SetEventInformation(round(x * self._scale), round(y * self._scale), iren.GetControlKey(),
                                 iren.GetShiftKey(), iren.GetKeyCode(), iren.GetRepeatCount(), iren.GetKeySym())
        self.turn_started.emit()

    def _on_step(self, *_args: Any) -> None:
        self.moves += 1
        self._want_frame()

    def _on_end(self, *_args: Any) -> None:
        if self.turning:
            self.moves += 1  # a wheel step starts and ends in one go
            self._want_frame()
            self._rest.start()

    def _want_frame(self) -> None:
        """The camera moved: a frame comes when the pace allows (one timer for however many moves come first)."""
        if not self.turning:
            return
        self._dirty = True
        if self._frame.isActive():
            return
        due = max(self._last_start + FRAME_MS / 1000, self._last_end + self._last_took + self._last_composed)
        self._frame.start(max(0, round((due - time.perf_counter()) * 1000)))

    def _draw_frame(self) -> None:
        if not self.turning or not self._dirty or getattr(self, "_closed", False):
            return
        self._dirty = False
        self._size_render_window()
        t0 = time.perf_counter()
        self.ren_win.Render()  # into VTK's framebuffer; the paint it asks for only blits it (render is off)
        self._last_start, self._last_end = t0, time.perf_counter()
        self._last_took = self._last_end - t0
        self.frames_drawn += 1

    def _compose_starts(self) -> None:
        self._composing = time.perf_counter()

    def _compose_ends(self) -> None:
        if self._composing:
            self._last_composed = time.perf_counter() - self._composing
            self._composing = 0.0

    def _come_to_rest(self) -> None:
        if not self.turning:
            return
        self._frame.stop()
        self.turning = False
        self._dirty = False
        self._scale = 1.0
        self.renderer.SetUseFXAA(self._fxaa)
        self._Iren.EnableRenderOn()
        self._size_render_window()
        self.came_to_rest.emit()  # listeners change the scene (the full mesh) without drawing it
        self._fresh = False
        self.update()  # one full frame, drawn by the paint

    def _size_render_window(self) -> None:
        dpr = self.devicePixelRatioF()
        size = (max(1, round(self.width() * dpr * self._scale)), max(1, round(self.height() * dpr * self._scale)))
        if tuple(self.ren_win.GetSize()) != size:
            self.ren_win.SetSize(*size)

    # --- pyvistaqt's widget, adjusted ---------------------------------------------------------------
    def pixel_ratio(self) -> float:
        """Render-window pixels per widget pixel: fewer while turning (picking and markers map points with it)."""
        return float(self.devicePixelRatioF()) * self._scale

    def _setEventInformation(self, x: float, y: float, ctrl: Any, shift: Any, key: Any, repeat: int = 0,  # noqa: N802
                             keysum: Any = None) -> None:
        """Mouse positions in the render window's pixels (fewer while turning); VTK's y axis points up."""
        s = self.pixel_ratio()
        self._Iren.SetEventInformation(round(x * s), round((self.height() - y - 1) * s), ctrl, shift, key, repeat,
                                       keysum)

    def _cb_frame(self, obj: Any, evt: Any) -> None:
        if not self._in_paint:
            self._fresh = True
        super()._cb_frame(obj, evt)

    def resizeGL(self, w: int, h: int) -> None:  # noqa: N802 (Qt's name)
        self._fresh = False  # a new size needs a new frame
        super().resizeGL(w, h)
        if self.turning:
            self._size_render_window()
            self._want_frame()

    def paintGL(self) -> None:  # noqa: N802 (Qt's name)
        """pyvistaqt draws the scene on every paint. A paint that follows a frame VTK has just drawn (``render()``)
        only shows it, as VTK's own Qt widget does; while turning, every paint only shows the last frame."""
        fresh, self._fresh = self._fresh, False
        iren = self._Iren
        if not fresh or not iren.GetEnableRender():
            super().paintGL()
            return
        iren.EnableRenderOff()
        try:
            super().paintGL()
        finally:
            iren.EnableRenderOn()
