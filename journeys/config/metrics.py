"""Prometheus metrics of our own (the SDK's runtime metrics come from Temporal's own exporter,
`JOURNEYS_TEMPORAL_METRICS_PORT`). Counted where the effect is durable, once: a retried
activity that finds its work done counts nothing."""

from prometheus_client import Counter

EVENTS_INGESTED = Counter(
    "journeys_events_ingested", "Events accepted by the API and signalled to customers (new ones)"
)
MESSAGES = Counter(
    "journeys_messages", "Messages settled, by channel and outcome", ["channel", "outcome"]
)
JOURNEY_RUNS = Counter(
    "journeys_journey_runs",
    "Journey run records: entered, converted, exited, completed",
    ["journey", "kind"],
)
