"""Liveness: `GET /healthz`, open, for load balancers and orchestrators."""

from fastapi import APIRouter

router = APIRouter()


@router.get("/healthz", include_in_schema=False)
async def health() -> dict[str, str]:
    return {"status": "ok"}
