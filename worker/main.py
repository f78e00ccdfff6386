"""Run a worker for the customer workflows and their activities."""

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import structlog
from temporalio.client import Client
from temporalio.worker import Worker

from activities.channels import ChannelActivities
from activities.journeys import JourneyActivities
from activities.lifecycle import LifecycleActivities, read_lifecycle_config
from activities.profiles import ProfileActivities
from channels.templates import load_templates
from config.settings import ConfigError, Settings
from config.temporal import connect
from workflows.customer import CustomerWorkflow
from workflows.journey import JourneyWorkflow

log = structlog.get_logger()


def build_worker(client: Client, settings: Settings) -> Worker:
    """The worker with every workflow and activity this product runs."""
    lifecycle = LifecycleActivities(
        read_lifecycle_config(settings.lifecycle_rules_file, settings.inactivity_days)
    )
    profiles = ProfileActivities(settings.database_url)
    journeys = JourneyActivities(settings.database_url)
    channels = ChannelActivities(settings, load_templates(settings.templates_dir))
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[CustomerWorkflow, JourneyWorkflow],
        activities=[
            lifecycle.load_lifecycle_config,
            profiles.update_profile,
            profiles.merge_profiles,
            journeys.load_journey_catalog,
            journeys.load_journey_spec,
            journeys.customer_traits,
            journeys.record_journey_event,
            journeys.queue_message,
            journeys.create_task,
            journeys.task_deadline,
            channels.deliver_message,
            channels.delivery_policy,
        ],
        activity_executor=ThreadPoolExecutor(max_workers=8),
        graceful_shutdown_timeout=timedelta(seconds=10),  # let running activities finish
    )


async def run_worker(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Poll until `stop` is set (or forever), then shut down gracefully."""
    read_lifecycle_config(settings.lifecycle_rules_file, settings.inactivity_days)  # fail early
    load_templates(settings.templates_dir)
    try:
        client = await connect(settings)
    except RuntimeError as err:
        raise ConfigError(f"cannot reach Temporal at {settings.temporal_address}: {err}") from err
    worker = build_worker(client, settings)
    log.info("worker_started", task_queue=settings.task_queue, temporal=settings.temporal_address)
    async with worker:
        await (stop or asyncio.Event()).wait()
    log.info("worker_stopped")
