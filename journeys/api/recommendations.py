"""Old import path of journeys/api/routes/recommendations.py, kept only for the tests that
still include `recommendations_router(settings)` by hand; delete once they do not (the app
includes it already)."""

from fastapi import APIRouter

from journeys.api.routes.recommendations import router
from journeys.config.settings import Settings


def recommendations_router(settings: Settings) -> APIRouter:
    return router
