from app.core.fleet.service import FleetService

__all__ = ["FleetService"]
