"""The API's routes: every resource router (api/routes/), included in one router that the
app factory (api/app.py) includes."""

from fastapi import APIRouter

from journeys.api.routes import (
    accounts,
    backtests,
    console,
    demo,
    experiments,
    feedback,
    health,
    insights,
    journeys,
    keys,
    metrics,
    popovers,
    products,
    recommendations,
    reports,
    segments,
    subscriptions,
    tasks,
    templates,
    tracking,
)

api_router = APIRouter()
for module in (
    tracking,
    popovers,
    demo,
    feedback,
    subscriptions,
    journeys,
    backtests,
    experiments,
    tasks,
    templates,
    segments,
    accounts,
    recommendations,
    products,
    reports,
    insights,
    console,
    keys,
    metrics,
    health,
):
    api_router.include_router(module.router)
api_router.include_router(backtests.pages)
api_router.include_router(console.sign_in)
