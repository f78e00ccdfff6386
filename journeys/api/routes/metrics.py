"""Prometheus metrics of this API process: `GET /metrics` (admin key)."""

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from journeys.api.deps import KeyFirstRoute, require_admin

router = APIRouter(route_class=KeyFirstRoute)


@router.get("/metrics", dependencies=[Depends(require_admin)],
            summary="Prometheus metrics of this API process (admin key)")  # fmt: skip
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
