"""Old import path of journeys/api/routes/experiments.py, kept only for the tests that still include
`experiments_router(settings)` by hand; delete once they do not (the app includes it already)."""

from fastapi import APIRouter

from journeys.api.routes.experiments import router
from journeys.config.settings import Settings


def experiments_router(settings: Settings) -> APIRouter:
    return router
