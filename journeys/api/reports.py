"""Old import path of journeys/api/routes/reports.py, kept only for the tests that still import
`page_data` and `reports_router` from here; delete once they import journeys.api.routes.reports."""

from fastapi import APIRouter

from journeys.api.routes.reports import page_data, router
from journeys.config.settings import Settings

__all__ = ["page_data", "reports_router"]


def reports_router(settings: Settings) -> APIRouter:
    return router
