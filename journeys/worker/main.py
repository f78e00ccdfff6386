"""Run a worker for the customer workflows and their activities."""

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import structlog
from prometheus_client import start_http_server
from temporalio.client import Client
from temporalio.worker import (
    PollerBehavior,
    PollerBehaviorAutoscaling,
    PollerBehaviorSimpleMaximum,
    Worker,
)

from journeys.activities.backtests import BacktestActivities
from journeys.activities.channels import ChannelActivities, delivery_policy
from journeys.activities.experiments import ExperimentActivities
from journeys.activities.journeys import JourneyActivities
from journeys.activities.kpis import KpiActivities
from journeys.activities.lifecycle import LifecycleActivities, read_lifecycle_config
from journeys.activities.profiles import ProfileActivities
from journeys.activities.recommendations import RecommendationActivities
from journeys.activities.segments import SegmentActivities
from journeys.channels.templates import load_templates
from journeys.config.settings import ConfigError, Settings
from journeys.config.temporal import connect
from journeys.store.db import upgrade_schema
from journeys.vocabulary.ids import PROVIDER_CHANNELS, channel_task_queue
from journeys.worker.deployment import become_current_if_first, deployment_config
from journeys.worker.runner import runner
from journeys.workflows.backtest import BacktestWorkflow
from journeys.workflows.clv_fit import ClvFitWorkflow
from journeys.workflows.customer import CustomerWorkflow
from journeys.workflows.experiment_evaluation import ExperimentEvaluationWorkflow
from journeys.workflows.journey import JourneyWorkflow
from journeys.workflows.recommendation_training import RecommendationTrainingWorkflow
from journeys.workflows.segment_refresh import SegmentRefreshWorkflow
from journeys.workflows.versioned import VERSIONED_WORKFLOWS

log = structlog.get_logger()

# Every workflow type this product runs: the worker registers them, the replay test and
# `journeys replay` check histories against them.
WORKFLOWS = (
    CustomerWorkflow,
    JourneyWorkflow,
    SegmentRefreshWorkflow,
    RecommendationTrainingWorkflow,
    ExperimentEvaluationWorkflow,
    ClvFitWorkflow,
    BacktestWorkflow,
)

# an activity that heartbeats learns of a cancel this soon
HEARTBEAT_THROTTLE = timedelta(seconds=5)


class WorkerGroup:
    """The main worker and one activity worker per provider channel, started and stopped
    together (`async with build_worker(...)`)."""

    def __init__(self, workers: list[Worker]) -> None:
        self.workers = workers

    async def __aenter__(self) -> "WorkerGroup":
        started: list[Worker] = []
        try:
            for worker in self.workers:
                await worker.__aenter__()
                started.append(worker)
        except BaseException:
            await asyncio.gather(*(w.__aexit__(None, None, None) for w in started))
            raise
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await asyncio.gather(*(w.__aexit__(*exc) for w in self.workers))


def workflow_pollers(settings: Settings) -> PollerBehavior:
    """A fixed number (the SDK's five by default), or autoscaling with 0: measured both ways in
    bench/README.md ("Workflow-task pollers")."""
    if settings.workflow_task_pollers:
        return PollerBehaviorSimpleMaximum(maximum=settings.workflow_task_pollers)
    return PollerBehaviorAutoscaling(minimum=2, maximum=100, initial=5)


def build_worker(
    client: Client,
    settings: Settings,
    channels: ChannelActivities | None = None,
    local_activities: bool = False,
) -> WorkerGroup:
    """Every workflow and activity this product runs. Sends through a provider run on their
    channel's task queue, which Temporal rate-limits across all workers when
    `JOURNEYS_RATE_LIMITS` names the channel. A backtest passes `channels` that record, and keeps
    its runs' store work in local activities (`local_activities`: it asks no query while a run
    is busy)."""
    config = read_lifecycle_config(settings.lifecycle_rules_file, settings.inactivity_days)
    config.delivery = delivery_policy(settings)  # handed by customers to their journey runs
    profiles = ProfileActivities(settings.database_url)
    journeys = JourneyActivities(settings.database_url)
    lifecycle = LifecycleActivities(
        config, settings.database_url, local_activities, catalog=journeys.catalog
    )
    channels = channels or ChannelActivities(settings, load_templates(settings.templates_dir))
    recommendations = RecommendationActivities(settings.database_url)
    segments = SegmentActivities(settings.database_url, task_queue=settings.task_queue)
    experiments = ExperimentActivities(settings.database_url)
    kpis = KpiActivities(settings.database_url)
    backtests = BacktestActivities(settings.database_url)
    executor = ThreadPoolExecutor(max_workers=8)
    deployment = deployment_config(settings)
    main = Worker(
        client,
        task_queue=settings.task_queue,
        workflows=list(VERSIONED_WORKFLOWS if deployment else WORKFLOWS),
        activities=[
            lifecycle.begin_customer_run,
            profiles.apply_customer_changes,
            profiles.update_profile,
            profiles.merge_profiles,
            journeys.load_journey_catalog,
            journeys.load_journey_spec,
            journeys.customer_traits,
            journeys.journey_paused,
            journeys.customer_profile,
            journeys.decision_stats,
            journeys.record_decision,
            journeys.record_journey_events,
            journeys.create_task,
            journeys.task_deadline,
            channels.deliver_message,  # runs recorded before channel task queues
            channels.delivery_policy,
            channels.give_up_message,
            recommendations.recommend_products,
            recommendations.train_recommenders,
            segments.refresh_segments,
            experiments.evaluate_experiments,
            kpis.fit_clv,
            backtests.run_backtest,
        ],
        activity_executor=executor,
        graceful_shutdown_timeout=timedelta(seconds=10),  # let running activities finish
        deployment_config=deployment,
        workflow_runner=runner(settings, client.data_converter),
        workflow_task_poller_behavior=workflow_pollers(settings),
        max_cached_workflows=settings.max_cached_workflows,
        max_concurrent_workflow_tasks=settings.max_concurrent_workflow_tasks,
        sticky_queue_schedule_to_start_timeout=timedelta(seconds=settings.sticky_timeout),
        # a cancel reaches an activity in a heartbeat's answer, and the SDK sends a heartbeat
        # at most every 0.8 x its timeout, up to a minute: a backtest cancelled through the API
        # ran on for that minute (its timeout is two, for a worker busy elsewhere)
        max_heartbeat_throttle_interval=HEARTBEAT_THROTTLE,
    )
    senders = [
        Worker(
            client,
            task_queue=channel_task_queue(settings.task_queue, channel),
            activities=[channels.deliver_message],
            activity_executor=executor,
            max_task_queue_activities_per_second=settings.rates.get(channel),
            graceful_shutdown_timeout=timedelta(seconds=10),
            deployment_config=deployment,
        )
        for channel in PROVIDER_CHANNELS
    ]
    return WorkerGroup([main, *senders])


async def run_worker(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Poll until `stop` is set (or forever), then shut down gracefully."""
    read_lifecycle_config(settings.lifecycle_rules_file, settings.inactivity_days)  # fail early
    load_templates(settings.templates_dir)
    await asyncio.to_thread(upgrade_schema, settings.database_url)
    try:
        client = await connect(settings)
    except RuntimeError as err:
        raise ConfigError(f"cannot reach Temporal at {settings.temporal_address}: {err}") from err
    worker = build_worker(client, settings)
    if settings.worker_metrics_port is not None:
        try:
            start_http_server(settings.worker_metrics_port)
        except OSError as err:
            raise ConfigError(
                f"JOURNEYS_WORKER_METRICS_PORT {settings.worker_metrics_port}: {err}"
            ) from err
    deployment = deployment_config(settings)
    log.info(
        "worker_started",
        task_queue=settings.task_queue,
        temporal=settings.temporal_address,
        deployment=deployment and deployment.version.deployment_name,
        build_id=deployment and deployment.version.build_id,
    )
    async with worker:
        if deployment is not None:
            await become_current_if_first(client, deployment.version)
        await (stop or asyncio.Event()).wait()
    log.info("worker_stopped")
