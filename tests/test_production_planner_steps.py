"""The site says in its log when its planner runs the slower Python search steps."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from app.bootstrap import build_core
from app.core.clock import ManualClock
from app.core.config import load_config
from app.core.scheduling import tabu_steps

WARNING = "the planner runs its Python search steps"


def _boot_log(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> str:
    async def go() -> None:
        core = build_core(load_config(str(tmp_path)), ManualClock(), connect_machines=False)
        await core.kernel.boot()
        await core.kernel.shutdown()

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="app.core.production.service"):
        asyncio.run(go())
    return caplog.text


def test_forced_python_steps_are_named_in_the_log(tmp_path: Path, caplog, monkeypatch) -> None:
    monkeypatch.setattr(tabu_steps, "PURE", True)
    assert WARNING in _boot_log(tmp_path, caplog)


def test_the_log_says_so_only_when_the_steps_are_not_compiled(tmp_path: Path, caplog) -> None:
    assert (WARNING in _boot_log(tmp_path, caplog)) == (not tabu_steps.compiled())
