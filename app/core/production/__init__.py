"""Production: the owner's planner and dispatcher (service) and what other processes read of the plan (plan_view).

The service is loaded on first use: a CLI command that only reads the plan's view must not pay for the scheduler
(numpy, the optimiser)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from app.core.production.plan_view import PlanRow, PlanView

if TYPE_CHECKING:
    from app.core.production.service import ProductionService


def __getattr__(name: str) -> Any:
    if name == "ProductionService":
        from app.core.production.service import ProductionService

        return ProductionService
    raise AttributeError(f"module 'app.core.production' has no attribute {name!r}")


__all__ = ["PlanRow", "PlanView", "ProductionService"]
