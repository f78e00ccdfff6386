"""Tracing (JOURNEYS_TRACING): with Temporal's OpenTelemetry interceptor on the client, an
event's signal-with-start, the customer's workflow and its activities are spans of one trace
(time-skipping server; spans kept in memory)."""

import uuid

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from journeys.client import deliver
from journeys.config.settings import Settings
from journeys.config.temporal import DATA_CONVERTER
from journeys.config.tracing import tracing_interceptors
from journeys.worker.main import build_worker
from tests.helpers.events import track
from tests.helpers.temporal import wait_for


async def test_an_event_is_traced_from_signal_to_activity(
    skipping_env: WorkflowEnvironment, sqlite_url: str, task_queue: str
) -> None:
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    settings = Settings(database_url=sqlite_url, task_queue=task_queue, tracing="console")
    base = skipping_env.client
    interceptors = tracing_interceptors(settings, provider.get_tracer("test"))
    client = Client(base.service_client, namespace=base.namespace,
                    data_converter=DATA_CONVERTER, interceptors=interceptors)  # fmt: skip
    cid = f"c-{uuid.uuid4()}"
    async with build_worker(client, settings):
        await deliver(client, task_queue=task_queue, customer_id=cid,
                      events=[track("Order Completed", order_id=f"{cid}-1", total=5)])  # fmt: skip
        await wait_for(client, cid, lambda s: s.events_total == 1)
    names = {span.name for span in spans.get_finished_spans()}
    assert "SignalWithStartWorkflow:CustomerWorkflow" in names, names
    assert "RunWorkflow:CustomerWorkflow" in names and "RunActivity:apply_customer_changes" in names
    ends = ("SignalWithStartWorkflow:CustomerWorkflow", "RunActivity:apply_customer_changes")
    traces = {s.context.trace_id for s in spans.get_finished_spans() if s.name in ends}
    assert len(traces) == 1  # one trace from the API's call to the activity


def test_a_bad_tracing_setting_is_refused() -> None:
    with pytest.raises(ValueError, match="off, otlp, console"):
        Settings(tracing="jaeger")
    assert tracing_interceptors(Settings()) == []
