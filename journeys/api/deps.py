"""The API's dependencies as named types, so a route's signature says what it uses: the
settings, the Temporal client, the store, what the app loaded at start (templates, tracking
plan, topics, recommender), the ingestor (tracking calls' group commit), and who may call
(`require_admin`, `require_write_key`).
Everything comes from `app.state`, which the factory (api/app.py) fills."""

import asyncio
from collections.abc import Callable, Coroutine, Iterator
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from sqlmodel import Session
from temporalio.client import Client

from journeys.activities.recommendations import RecommendationActivities
from journeys.api.auth import check_admin, check_console, check_write_key
from journeys.api.ingest import Ingestor
from journeys.channels.subscriptions import Topic
from journeys.channels.templates import Template
from journeys.config.settings import Settings
from journeys.store.db import session_scope
from journeys.vocabulary.tracking_plan import TrackingPlan

T = TypeVar("T")


class Store:
    """The API's database: `run` does one unit of work in one session, in a thread, so the
    event loop never waits on the database; it commits when the work returns."""

    def __init__(self, url: str) -> None:
        self.url = url

    async def run(self, work: Callable[[Session], T]) -> T:
        def in_session() -> T:
            with session_scope(self.url) as session:
                return work(session)

        return await asyncio.to_thread(in_session)


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(_settings)]


def _client(request: Request) -> Client:
    # read per request: the lifespan connects after the app is made
    client: Client = request.app.state.client
    return client


def _store(settings: SettingsDep) -> Store:
    return Store(settings.database_url)


def _templates(request: Request) -> dict[str, Template]:
    templates: dict[str, Template] = request.app.state.templates
    return templates


def _plan(request: Request) -> TrackingPlan:
    plan: TrackingPlan = request.app.state.plan
    return plan


def _topics(request: Request) -> dict[str, Topic]:
    topics: dict[str, Topic] = request.app.state.topics
    return topics


def _ingestor(request: Request) -> Ingestor:
    ingestor: Ingestor = request.app.state.ingestor
    return ingestor


def _recommender(request: Request) -> RecommendationActivities:
    recommender: RecommendationActivities = request.app.state.recommender
    return recommender


ClientDep = Annotated[Client, Depends(_client)]
StoreDep = Annotated[Store, Depends(_store)]
TemplatesDep = Annotated[dict[str, Template], Depends(_templates)]
TrackingPlanDep = Annotated[TrackingPlan, Depends(_plan)]
TopicsDep = Annotated[dict[str, Topic], Depends(_topics)]
RecommenderDep = Annotated[RecommendationActivities, Depends(_recommender)]
IngestorDep = Annotated[Ingestor, Depends(_ingestor)]


def require_admin(request: Request, settings: SettingsDep) -> None:
    """401 without the admin key (Bearer); for `dependencies=[Depends(require_admin)]`."""
    check_admin(settings, request)


REPORT_REALM = "journeys reports"


def report_reader(request: Request, settings: SettingsDep) -> None:
    """The admin key, as Bearer or as an HTTP Basic password (a browser prompts for it)."""
    check_admin(settings, request, basic_realm=REPORT_REALM)


def console_reader(request: Request, settings: SettingsDep) -> None:
    """The admin key as Bearer, Basic, or the console's sign-in cookie (api/auth.py)."""
    check_console(settings, request)


def require_write_key(
    request: Request,
    settings: SettingsDep,
    writeKey: str | None = None,  # noqa: N803  (Segment's spelling)
) -> None:
    """401 without a write key, by HTTP Basic or `?writeKey=`: GET routes websites call."""
    check_write_key(settings, request, writeKey)


# each key dependency, as a check that needs no more than the settings and the request
KEY_CHECKS: dict[Callable[..., None], Callable[[Settings, Request], None]] = {
    require_admin: lambda settings, request: check_admin(settings, request),
    report_reader: lambda settings, request: check_admin(
        settings, request, basic_realm=REPORT_REALM
    ),
    console_reader: check_console,
    require_write_key: lambda settings, request: check_write_key(
        settings, request, request.query_params.get("writeKey")
    ),
}


def _dependencies(dependant: Dependant) -> Iterator[Dependant]:
    for sub in dependant.dependencies:
        yield sub
        yield from _dependencies(sub)


class KeyFirstRoute(APIRoute):
    """Checks the caller's key before FastAPI reads and validates the body, so a caller without
    the key learns nothing about what a route accepts: 401 before any 400, 413 or 422. Every
    router uses it (tests/api/test_auth.py holds them to it)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        checks = [
            KEY_CHECKS[sub.call] for sub in _dependencies(self.dependant) if sub.call in KEY_CHECKS
        ]
        self.key_checks = checks  # what runs before the body is read (tests hold routes to it)
        if not checks:
            return handler

        async def key_first(request: Request) -> Response:
            settings: Settings = request.app.state.settings
            for check in checks:  # a stored key is looked up in the store: off the event loop
                await run_in_threadpool(check, settings, request)
            return await handler(request)

        return key_first
