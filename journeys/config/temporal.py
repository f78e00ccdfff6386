"""How every process reaches Temporal: one data converter (pydantic) everywhere."""

import dataclasses
import logging
from functools import cache, lru_cache

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter
from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    PrometheusConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)

from journeys.config.codec import EncryptionCodec, parse_keys
from journeys.config.settings import Settings
from journeys.config.tracing import tracing_interceptors

DATA_CONVERTER = pydantic_data_converter


def data_converter(settings: Settings) -> DataConverter:
    """Pydantic payloads, encrypted when `JOURNEYS_PAYLOAD_KEY` is set."""
    if not settings.payload_key:
        return DATA_CONVERTER
    codec = EncryptionCodec(parse_keys(settings.payload_key))
    return dataclasses.replace(DATA_CONVERTER, payload_codec=codec)


async def connect(settings: Settings, address: str | None = None, lazy: bool = False) -> Client:
    """`lazy` connects on first use, so the API starts (and answers 503) while Temporal is down."""
    return await Client.connect(
        address or settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(settings),
        lazy=lazy,
        runtime=_runtime(settings.temporal_metrics_port),
        interceptors=tracing_interceptors(settings),
    )


@lru_cache
def _runtime(metrics_port: int | None) -> Runtime:
    """One runtime per process: with a port, the SDK's own Prometheus exporter (workflow and
    activity task latencies, poll and slot metrics) listens there."""
    if metrics_port is None:
        return Runtime.default()
    prometheus = PrometheusConfig(bind_address=f"0.0.0.0:{metrics_port}")
    return Runtime(telemetry=TelemetryConfig(metrics=prometheus))


@cache
def quiet_runtime() -> Runtime:
    """For commands whose standard output is their result (a backtest's JSON, a benchmark's
    verdict): the SDK core's log lines, errors only, go through Python's logging to stderr
    instead of straight to stdout."""
    forwarding = LogForwardingConfig(logger=logging.getLogger("temporalio.core"))
    filtered = TelemetryFilter(core_level="ERROR", other_level="ERROR")
    return Runtime(
        telemetry=TelemetryConfig(logging=LoggingConfig(filter=filtered, forwarding=forwarding))
    )
