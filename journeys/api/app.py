"""The app factory: what the API holds (settings, Temporal client, the templates, tracking
plan and topics loaded at start), the lifespan that connects to Temporal, the error
handlers, and the routers (api/router.py; the codec endpoint from api/codec.py)."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import Depends, FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.client import Client

from journeys.activities.recommendations import RecommendationActivities
from journeys.api.codec import codec_router
from journeys.api.deps import require_admin
from journeys.api.errors import (
    ApiError,
    api_error_response,
    http_error_response,
    validation_error_response,
)
from journeys.api.ingest import Ingestor
from journeys.api.router import api_router
from journeys.channels.subscriptions import load_topics
from journeys.channels.templates import SHIPPED, load_templates
from journeys.config.settings import Settings
from journeys.config.temporal import connect
from journeys.config.tracking_plan import load_tracking_plan
from journeys.config.version import VERSION
from journeys.store.db import upgrade_schema

log = structlog.get_logger()


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    await asyncio.to_thread(upgrade_schema, settings.database_url)  # replicas: under a lock
    if not settings.write_keys:
        log.warning("no_write_keys", hint="set JOURNEYS_WRITE_KEYS; every call gets 401")
    if app.state.client is None:
        app.state.client = await connect(settings, lazy=True)
    yield


def create_app(settings: Settings, client: Client | None = None) -> FastAPI:
    """The API for `settings`; tests pass their own Temporal client. The files are read
    here, so a bad template or tracking plan stops the start (ConfigError)."""
    app = FastAPI(title="journeys", version=VERSION, lifespan=lifespan)
    app.state.settings = settings
    app.state.client = client
    app.state.templates = load_templates(settings.templates_dir)
    app.state.plan = load_tracking_plan(settings.tracking_plan_file)
    app.state.topics = load_topics(settings.templates_dir or SHIPPED)
    app.state.recommender = RecommendationActivities(settings.database_url)
    app.state.ingestor = Ingestor(
        database_url=settings.database_url, task_queue=settings.task_queue
    )

    app.exception_handler(RequestValidationError)(validation_error_response)
    app.exception_handler(ApiError)(api_error_response)
    app.exception_handler(StarletteHTTPException)(http_error_response)

    app.include_router(api_router)
    # built per app: it holds the payload key; `journeys codec-server` builds it with CORS
    app.include_router(codec_router(settings, cors=False, dependencies=[Depends(require_admin)]))
    return app
