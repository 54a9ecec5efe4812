"""Training runs in a worker process: fitting takes seconds of CPU, and the event loop and the window must not
feel it. The worker gets the records and a folder, and returns the metadata it wrote."""

from __future__ import annotations

import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from app.core.learning.records import JobRecord


def _train(rows: list[dict[str, Any]], folder: str, min_jobs: int) -> dict[str, Any]:
    from app.core.learning.train import train_bundle

    return train_bundle([JobRecord.from_dict(r) for r in rows], Path(folder), min_jobs=min_jobs)


def train_in_worker(records: Sequence[JobRecord], folder: Path, min_jobs: int) -> dict[str, Any]:
    """Fit in a fresh (spawned) process and wait for it. Errors come back as the exception raised there."""
    ctx = multiprocessing.get_context("spawn")  # no forked copy of the event loop, threads or open database
    with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        return pool.submit(_train, [r.to_dict() for r in records], str(folder), min_jobs).result()
