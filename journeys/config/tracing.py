"""OpenTelemetry tracing through Temporal's interceptor (`JOURNEYS_TRACING`): a trace follows an
event from the API's signal-with-start through the customer's workflow, its journey runs and
their activities. `otlp` exports with the standard OTEL_EXPORTER_OTLP_* variables (endpoint,
headers), `console` prints spans; `off` (default) adds nothing."""

from functools import lru_cache

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from temporalio.client import Interceptor
from temporalio.contrib.opentelemetry import TracingInterceptor

from journeys.config.settings import Settings


def tracing_interceptors(
    settings: Settings, tracer: trace.Tracer | None = None
) -> list[Interceptor]:
    """The client (and so worker) interceptors for the tracing setting; tests pass a tracer."""
    if settings.tracing == "off" and tracer is None:
        return []
    return [TracingInterceptor(tracer or _tracer(settings.tracing))]


@lru_cache
def _tracer(mode: str) -> trace.Tracer:
    """One provider per process, installed as the global one."""
    exporter: SpanExporter
    if mode == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
    else:
        exporter = ConsoleSpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "journeys"}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return trace.get_tracer("journeys")
