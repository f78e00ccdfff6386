"""Old import path of journeys/api/routes/segments.py, kept only for the tests that still include
`segments_router(settings)` by hand; delete once they do not (the app includes it already)."""

from fastapi import APIRouter

from journeys.api.routes.segments import router
from journeys.config.settings import Settings


def segments_router(settings: Settings) -> APIRouter:
    return router
