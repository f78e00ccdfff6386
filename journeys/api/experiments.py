"""Experiment endpoints, behind the admin key: a journey's experiment results and promotions,
a manual promotion of a variant and the revert of the latest promotion (each a new version)."""

import asyncio
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from journeys.activities.experiments import journey_experiment_results
from journeys.api.auth import admin_guard
from journeys.api.errors import ApiError
from journeys.config.settings import Settings
from journeys.store.db import session_scope
from journeys.store.experiments import (
    ExperimentError,
    promote_variant,
    promotions,
    revert_promotion,
)
from journeys.store.journeys import CatalogError, NotFound
from journeys.store.models import ExperimentPromotion, Journey, JourneyVersion


class Promotion(BaseModel):
    variant: str = Field(min_length=1)


def promotion_view(row: ExperimentPromotion) -> dict[str, Any]:
    return row.model_dump(mode="json")


def experiments_router(settings: Settings) -> APIRouter:
    router = APIRouter(prefix="/v1", dependencies=[Depends(admin_guard(settings))],
                       tags=["experiments"])  # fmt: skip
    url = settings.database_url

    def run(fn: Callable[[], Any]) -> Any:
        return asyncio.to_thread(fn)

    @router.get("/journeys/{name}/experiments", summary="experiment results and promotions")
    async def experiments(
        name: str, version: Annotated[int | None, Query(ge=1)] = None
    ) -> dict[str, Any]:
        """Per experiment step: each variant's exposures, conversions, rate with its 95%
        Wilson interval and probability of being best, the chi-square p-value and the sample
        ratio mismatch check, over every version (or `?version=N`); then the promotions."""

        def read() -> dict[str, Any] | None:
            with session_scope(url) as session:
                if session.get(Journey, name) is None:
                    return None
                if version is not None and session.get(JourneyVersion, (name, version)) is None:
                    return None
                results = journey_experiment_results(session, journey=name, version=version)
                return {
                    "journey": name,
                    "version": version,
                    "experiments": [result.as_dict() for result in results],
                    "promotions": [promotion_view(p) for p in promotions(session, journey=name)],
                }

        found = await run(read)
        if found is None:
            which = f"version {version} of " if version else ""
            raise ApiError(404, f"no {which}journey {name!r}")
        return found

    @router.post(
        "/journeys/{name}/experiments/{step}/promote",
        summary="give one variant all the traffic (a new version)",
    )
    async def promote(name: str, step: str, body: Promotion) -> dict[str, Any]:
        def write() -> dict[str, Any]:
            with session_scope(url) as session:
                results = journey_experiment_results(session, journey=name)
                result = next((r for r in results if r.step == step), None)
                arms = {a.name: a for a in result.analysis.arms} if result else {}
                arm = arms.get(body.variant)
                return promotion_view(
                    promote_variant(
                        session,
                        journey=name,
                        step=step,
                        winner=body.variant,
                        probability_best=arm.probability_best if arm else None,
                        exposures={n: a.exposures for n, a in arms.items()},
                        manual=True,
                    )
                )

        return await _answer(run(write))

    @router.post(
        "/journeys/{name}/experiments/{step}/revert",
        summary="undo the latest promotion: a new version with the weights before it",
    )
    async def revert(name: str, step: str) -> dict[str, Any]:
        def write() -> dict[str, Any]:
            with session_scope(url) as session:
                return promotion_view(revert_promotion(session, journey=name, step=step))

        return await _answer(run(write))

    return router


async def _answer(work: Any) -> dict[str, Any]:
    try:
        result: dict[str, Any] = await work
    except NotFound as err:
        raise ApiError(404, str(err)) from err
    except ExperimentError as err:
        errors = [{"field": "variant", "reason": str(err)}] if err.status == 400 else None
        raise ApiError(err.status, str(err), errors) from err
    except CatalogError as err:  # archived
        raise ApiError(409, str(err)) from err
    return result
