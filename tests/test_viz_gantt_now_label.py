"""The Timeline's "now" label sits above the bars (in the lane the fitted view leaves over the first row), on a
background of its own: it sat on the first machine's bar and covered its label."""

from __future__ import annotations

import time

from PySide6.QtCore import QRectF

from app.viz.gantt import BAR_HEIGHT, Bar, GanttWidget


def test_now_label_does_not_cover_bars(qtbot) -> None:  # type: ignore[no-untyped-def]
    now = time.time()
    g = GanttWidget({"IN_PROGRESS": "#1f6feb"})
    qtbot.addWidget(g)
    g.resize(900, 420)
    g.show()
    qtbot.waitExposed(g)
    g.set_rows(["FDM-A", "FDM-B", "Laser", "Mill"])
    bars = [Bar(r, now - 3600 + r * 600, now + 3600 + r * 900, key=r, label=f"job {r}", state="IN_PROGRESS")
            for r in range(4)]
    g.set_now(now)
    g.set_bars(bars)
    g.fit()
    qtbot.wait(50)
    vb = g.plot.getViewBox()
    label = g.now_label.sceneBoundingRect()
    assert label.width() > 0 and label.height() > 0
    assert abs(label.center().x() - vb.mapViewToScene(g.now_line.pos()).x()) < 2  # on the now-line
    assert vb.sceneBoundingRect().contains(label.center())  # inside the chart
    for bar in bars:
        rect = vb.mapViewToScene(QRectF(bar.start_ts, bar.row - BAR_HEIGHT / 2, bar.end_ts - bar.start_ts,
                                        BAR_HEIGHT)).boundingRect()
        assert not rect.intersects(label), (bar.label, rect, label)
    g.plot.setXRange(now - 7200, now + 7200, padding=0)  # panned: the label follows the line, at the top
    qtbot.wait(50)
    assert abs(g.now_label.sceneBoundingRect().center().x() - vb.mapViewToScene(g.now_line.pos()).x()) < 2
