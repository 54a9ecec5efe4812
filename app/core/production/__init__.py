from app.core.production.plan_view import PlanRow, PlanView
from app.core.production.service import ProductionService

__all__ = ["PlanRow", "PlanView", "ProductionService"]
