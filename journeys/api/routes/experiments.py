"""Experiments (admin key): a journey's experiment results and promotions, a manual promotion
of a variant and the revert of the latest promotion (each a new version)."""

from collections.abc import Awaitable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from sqlmodel import Session

from journeys.activities.experiments import journey_experiment_results
from journeys.api.deps import KeyFirstRoute, StoreDep, require_admin
from journeys.api.errors import ApiError
from journeys.api.schemas import MAX_VERSION
from journeys.store.experiments import (
    ExperimentError,
    promote_variant,
    promotions,
    revert_promotion,
)
from journeys.store.journeys import CatalogError, NotFound
from journeys.store.models import ExperimentPromotion, Journey, JourneyVersion

router = APIRouter(
    route_class=KeyFirstRoute,
    prefix="/v1/journeys/{name}/experiments",
    dependencies=[Depends(require_admin)],
    tags=["experiments"],
)


class Promotion(BaseModel):
    variant: str = Field(min_length=1)


def promotion_view(row: ExperimentPromotion) -> dict[str, Any]:
    return row.model_dump(mode="json")


@router.get("", summary="experiment results and promotions")
async def experiments(
    name: str, store: StoreDep, version: Annotated[int | None, Query(ge=1, le=MAX_VERSION)] = None
) -> dict[str, Any]:
    """Per experiment step: each variant's exposures, conversions, rate with its 95%
    Wilson interval and probability of being best, the chi-square p-value and the sample
    ratio mismatch check, over every version (or `?version=N`); then the promotions."""

    def read(session: Session) -> dict[str, Any] | None:
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

    found = await store.run(read)
    if found is None:
        which = f"version {version} of " if version else ""
        raise ApiError(404, f"no {which}journey {name!r}")
    return found


@router.post("/{step}/promote", summary="give one variant all the traffic (a new version)")
async def promote(name: str, step: str, body: Promotion, store: StoreDep) -> dict[str, Any]:
    def write(session: Session) -> dict[str, Any]:
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

    return await _answer(store.run(write))


@router.post(
    "/{step}/revert", summary="undo the latest promotion: a new version with the weights before it"
)
async def revert(name: str, step: str, store: StoreDep) -> dict[str, Any]:
    return await _answer(
        store.run(lambda s: promotion_view(revert_promotion(s, journey=name, step=step)))
    )


async def _answer(work: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    try:
        return await work
    except NotFound as err:
        raise ApiError(404, str(err)) from err
    except ExperimentError as err:
        errors = [{"field": "variant", "reason": str(err)}] if err.status == 400 else None
        raise ApiError(err.status, str(err), errors) from err
    except CatalogError as err:  # archived
        raise ApiError(409, str(err)) from err
