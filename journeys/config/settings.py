"""The one settings object: every `JOURNEYS_*` environment variable is a field here."""

import ipaddress
import re
from datetime import time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    """Typed, validated at start-up; read by API, worker, CLI and tests alike."""

    model_config = SettingsConfigDict(env_prefix="JOURNEYS_", extra="ignore")

    temporal_address: str = Field(default="localhost:7233", description="Temporal frontend")
    temporal_namespace: str = Field(default="default", description="Temporal namespace")
    task_queue: str = Field(
        default="journeys",
        description="task queue of the workers (sends run on `{task queue}-email`, ...)",
    )
    database_url: str = Field(
        default="sqlite:///.journeys/journeys.db",
        description="the store; `postgresql://user:pass@host/db` for PostgreSQL",
    )
    write_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="bootstrap write keys; `journeys up` makes one if unset",
    )
    admin_key: str | None = Field(
        default=None,
        description="bootstrap bearer key of the management endpoints (journeys, tasks, keys);"
        " unset: all refused; `journeys up` makes one",
    )
    signing_key: str | None = Field(
        default=None,
        description="signs unsubscribe and tracking links (unset: no open/click tracking);"
        " `journeys up` makes one",
    )
    unsubscribe_link_days: int = Field(
        default=365,
        ge=30,
        description="how long an unsubscribe link works; CAN-SPAM wants opt-outs honoured 30 days"
        " after a send",
    )
    public_url: str = Field(
        default="http://127.0.0.1:8000",
        description="where customers reach the API (links in messages)",
    )
    smtp_host: str | None = Field(
        default=None, description="SMTP server; email is delivered only when set"
    )
    smtp_port: int = Field(default=25, description="SMTP port")
    smtp_starttls: bool = Field(default=False, description="SMTP: upgrade with STARTTLS")
    smtp_tls: bool = Field(default=False, description="SMTP: connect over TLS")
    smtp_username: str | None = Field(default=None, description="SMTP login")
    smtp_password: str | None = Field(default=None, description="SMTP password")
    email_from: str = Field(
        default="Journeys <journeys@localhost>",
        description="sender; its domain names the Message-IDs",
    )
    sms_provider_url: str | None = Field(
        default=None, description="HTTP provider for SMS; SMS is delivered only when set"
    )
    sms_provider_token: str | None = Field(
        default=None, description="bearer token for the SMS provider"
    )
    push_provider_url: str | None = Field(
        default=None, description="HTTP provider for push; push is delivered only when set"
    )
    push_provider_token: str | None = Field(
        default=None, description="bearer token for the push provider"
    )
    webhook_url: str | None = Field(
        default=None, description="where webhook messages go; delivered only when set"
    )
    webhook_secret: str | None = Field(
        default=None,
        description="the key that signs webhook messages (`X-Journeys-Signature`)",
    )
    provider_webhook_secret: str | None = Field(
        default=None,
        description="bearer token providers send with delivery reports (any channel)",
    )
    quiet_hours: str | None = Field(
        default="21:00-08:00",
        description="customers' local hours when email, SMS and push wait; empty: off",
    )
    frequency_caps: str | None = Field(
        default=None,
        description="marketing sends per customer and channel in a sliding window, e.g."
        " `email:3/7d,sms:2/1d`",
    )
    rate_limits: str | None = Field(
        default=None,
        description="sends per second per provider, across every worker (Temporal rate-limits"
        " the channel's task queue), e.g. `email:20,sms:5`; a channel not named is not limited",
    )
    popovers_per_day: int = Field(
        default=2, description="display rule: at most this many popovers per customer a day"
    )
    popover_expiry_days: float = Field(
        default=7.0, description="a popover not shown by then is dropped"
    )
    popovers_per_session: int = Field(
        default=1,
        ge=1,
        description="display rule: at most this many popovers per browsing session"
        " (`GET /v1/popovers?sessionId=`)",
    )
    demo_page: bool = Field(
        default=False,
        description="serve the demo shop page at /demo (`journeys up` turns it on with its demo)",
    )
    payload_key: str | None = Field(
        default=None,
        repr=False,
        description="AES-256-GCM keys for workflow payloads, base64, comma-separated: encrypt"
        " with the first, decrypt with any (rotation); unset: payloads are stored in the clear",
    )
    machine_ranges: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="address ranges (CIDR, comma-separated) whose email opens and clicks are"
        " a machine's, like your mail gateway's link scanner; added to the known ones",
    )
    global_control: float = Field(
        default=0.0,
        ge=0,
        le=0.5,
        description="share of customers (by a hash of the id) who get no marketing message from"
        " any journey: the global control group reports compare against; 0: none",
    )
    codec_cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["http://localhost:8233", "http://127.0.0.1:8233"],
        description="the Temporal UI origins `journeys codec-server` answers",
    )
    worker_deployment: str | None = Field(
        default=None,
        description="Worker Versioning (docs/versioning.md): the Worker Deployment this worker"
        " belongs to; unset, the worker is unversioned and running workflows rely on patches",
    )
    build_id: str | None = Field(
        default=None,
        description="the worker's build in its Worker Deployment, e.g. the git sha; unset: a"
        " hash of the workflow and activity code",
    )
    tracing: str = Field(
        default="off",
        description="`off`, `otlp` (the `OTEL_EXPORTER_OTLP_*` variables say where) or"
        " `console`: OpenTelemetry spans through Temporal's interceptor",
    )
    workflow_task_pollers: int = Field(
        default=5,
        ge=0,
        description="workflow-task polls a worker keeps open (the SDK's 5; one of them for new"
        " workflows); 0: autoscaling, 2-100, which cuts latency when the worker is behind but"
        " costs a workflow task per event instead of batching them (bench/README.md)",
    )
    workflow_sandbox: bool = Field(
        default=True,
        description="run workflows in the SDK's sandbox, which re-imports their modules for"
        " each workflow it starts and checks every call for non-determinism; false runs the"
        " same code, as tested and replayed in the sandbox, without that cost per workflow"
        " (bench/README.md)",
    )
    max_cached_workflows: int = Field(
        default=2000,
        ge=0,
        description="workflows a worker keeps in memory between their tasks; one evicted is"
        " replayed from its history at its next task",
    )
    max_concurrent_workflow_tasks: int = Field(
        default=50,
        ge=2,
        description="workflow tasks a worker runs at once (the SDK's default is 100); past it"
        " tasks wait at the server, where a customer's next events join them, not open in the"
        " worker while their local activities queue (bench/README.md: 50 served a third more"
        " customers a second than 100, with less history per event)",
    )
    sticky_timeout: float = Field(
        default=1.5,
        gt=0,
        description="seconds a workflow task or query waits for the worker that has the"
        " workflow in memory before any worker takes it (the SDK's default is 10): after a worker"
        " dies, its customers' `state` queries and next events wait this long (bench/chaos.py)",
    )
    worker_metrics_port: int | None = Field(
        default=None, description="Prometheus: our counters from the worker process"
    )
    temporal_metrics_port: int | None = Field(
        default=None,
        description="Prometheus: the Temporal SDK's runtime metrics (worker and API processes)",
    )
    api_host: str = Field(default="127.0.0.1", description="where `journeys api` listens")
    api_port: int = Field(default=8000, description="the port `journeys api` listens on")
    lifecycle_rules_file: Path | None = Field(
        default=None, description="YAML file of lifecycle rules; unset: the built-in rules"
    )
    tracking_plan_file: Path | None = Field(
        default=None,
        description="the events and properties journeys may name; unset: the shipped"
        " `journeys/data/journeys/tracking_plan.yaml`",
    )
    templates_dir: Path | None = Field(
        default=None,
        description="message templates journeys may name; unset: the shipped"
        " `journeys/data/templates/`",
    )
    inactivity_days: float = Field(
        default=30.0, description="quiet period before a customer is marked at risk"
    )
    segment_refresh_interval: timedelta = Field(
        default=timedelta(hours=1),
        description="how often the `segment-refresh` schedule re-evaluates every segment in"
        " batch: 30m, 1h, 1d",
    )
    recommendation_training_interval: timedelta = Field(
        default=timedelta(hours=6),
        gt=timedelta(0),
        description="how often the Temporal Schedule `recommendation-training` retrains the"
        " recommenders: minutes, hours or days (30m, 6h, 1d) or ISO 8601 (PT6H)",
    )
    clv_fit_interval: timedelta = Field(
        default=timedelta(hours=24),
        description="how often the Temporal Schedule `clv-fit` fits BG/NBD and Gamma-Gamma to"
        " the orders and writes each customer's p_alive, churn_risk, expected_purchases,"
        " predicted_clv traits",
    )
    experiment_evaluation_interval: timedelta = Field(
        default=timedelta(hours=1),
        description="how often the Temporal Schedule `experiment-evaluation` promotes"
        " experiments' winners (steps with a `promote` block): 30m, 1h, 1d",
    )
    log_format: str = Field(
        default="auto", description="`auto` (console on a terminal), `json` or `console`"
    )
    log_level: str = Field(default="INFO", description="log level")

    @field_validator("payload_key")
    @classmethod
    def _payload_key(cls, value: str | None) -> str | None:
        if value:
            from journeys.config.codec import parse_keys

            parse_keys(value)
        return value or None

    @field_validator("codec_cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("machine_ranges", mode="before")
    @classmethod
    def _split_ranges(cls, value: object) -> object:
        if isinstance(value, str):
            value = [text.strip() for text in value.split(",") if text.strip()]
        for text in value if isinstance(value, list) else []:
            try:
                ipaddress.ip_network(text, strict=False)
            except ValueError as err:  # refused at start-up, by name
                raise ValueError(f"{text!r} is not an address range (like 203.0.113.0/24)") from err
        return value

    @field_validator("write_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [key.strip() for key in value.split(",") if key.strip()]
        return value

    @field_validator("quiet_hours")
    @classmethod
    def _window(cls, value: str | None) -> str | None:
        if not value:
            return None
        window = _parse_window(value)
        if len(window) != 2:
            raise ValueError("expected a window like 21:00-08:00, or empty for none")
        if window[0] == window[1]:  # all day or never: either way a send would wait for ever
            raise ValueError(f"{value!r} starts and ends at the same time")
        return value

    @property
    def quiet_window(self) -> tuple[time, time] | None:
        """Quiet hours as (start, end) local times, or None."""
        if not self.quiet_hours:
            return None
        start, end = _parse_window(self.quiet_hours)
        return start, end

    @field_validator("frequency_caps")
    @classmethod
    def _caps(cls, value: str | None) -> str | None:
        if value:
            _parse_caps(value)
        return value or None

    @property
    def caps(self) -> dict[str, tuple[int, timedelta]]:
        """Frequency caps by channel: (at most this many, per this window)."""
        return _parse_caps(self.frequency_caps) if self.frequency_caps else {}

    @field_validator("rate_limits")
    @classmethod
    def _rates(cls, value: str | None) -> str | None:
        if value:
            _parse_rates(value)
        return value or None

    @property
    def rates(self) -> dict[str, float]:
        """Provider rate limits by channel, in sends per second."""
        return _parse_rates(self.rate_limits) if self.rate_limits else {}

    @field_validator("recommendation_training_interval", mode="before")
    @classmethod
    def _interval(cls, value: object) -> object:
        if isinstance(value, str) and (match := re.fullmatch(r"\s*(\d+)([mhd])\s*", value)):
            return int(match.group(1)) * WINDOW_UNITS[match.group(2)]
        return value

    @field_validator("segment_refresh_interval", mode="before")
    @classmethod
    def _refresh_interval(cls, value: object) -> object:
        if isinstance(value, str) and (match := re.fullmatch(r"\s*(\d+)\s*([mhd])\s*", value)):
            return int(match.group(1)) * WINDOW_UNITS[match.group(2)]
        return value

    @field_validator("segment_refresh_interval")
    @classmethod
    def _at_least_a_minute(cls, value: timedelta) -> timedelta:
        if value < timedelta(minutes=1):
            raise ValueError("expected at least a minute, like 30m, 1h or 1d")
        return value

    @field_validator("clv_fit_interval", mode="before")
    @classmethod
    def _clv_interval(cls, value: object) -> object:
        if isinstance(value, str) and (match := re.fullmatch(r"\s*(\d+)\s*([mhd])\s*", value)):
            return int(match.group(1)) * WINDOW_UNITS[match.group(2)]
        return value

    @field_validator("clv_fit_interval")
    @classmethod
    def _clv_at_least_a_minute(cls, value: timedelta) -> timedelta:
        if value < timedelta(minutes=1):
            raise ValueError("expected at least a minute, like 6h, 1d or 7d")
        return value

    @field_validator("experiment_evaluation_interval", mode="before")
    @classmethod
    def _experiment_interval(cls, value: object) -> object:
        if isinstance(value, str) and (match := re.fullmatch(r"\s*(\d+)\s*([mhd])\s*", value)):
            return int(match.group(1)) * WINDOW_UNITS[match.group(2)]
        return value

    @field_validator("experiment_evaluation_interval")
    @classmethod
    def _experiment_at_least_a_minute(cls, value: timedelta) -> timedelta:
        if value < timedelta(minutes=1):
            raise ValueError("expected at least a minute, like 30m, 1h or 1d")
        return value

    @field_validator("tracing")
    @classmethod
    def _tracing(cls, value: str) -> str:
        if value not in {"off", "otlp", "console"}:
            raise ValueError("must be one of off, otlp, console")
        return value

    @field_validator("log_format")
    @classmethod
    def _known_format(cls, value: str) -> str:
        if value not in {"auto", "json", "console"}:
            raise ValueError("must be one of auto, json, console")
        return value


def _parse_window(value: str) -> list[time]:
    try:
        return [time.fromisoformat(part.strip()) for part in value.split("-")]
    except ValueError as err:
        raise ValueError(f"{value!r}: {err}") from err


WINDOW_UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1)}


def _parse_caps(value: str) -> dict[str, tuple[int, timedelta]]:
    caps = {}
    for part in filter(None, (p.strip() for p in value.split(","))):
        match = re.fullmatch(r"(email|sms|push|webhook):(\d+)/(\d+)([mhd])", part)
        if not match:
            raise ValueError(
                f"{part!r}: expected CHANNEL:COUNT/WINDOW like email:3/7d (channels email, sms,"
                " push, webhook; windows in m, h or d)"
            )
        channel, count, size, unit = match.groups()
        caps[channel] = (int(count), int(size) * WINDOW_UNITS[unit])
    return caps


def _parse_rates(value: str) -> dict[str, float]:
    rates = {}
    for part in filter(None, (p.strip() for p in value.split(","))):
        match = re.fullmatch(r"(email|sms|push|webhook):(\d+(?:\.\d+)?)", part)
        if not match or float(match.group(2)) <= 0:
            raise ValueError(
                f"{part!r}: expected CHANNEL:PER_SECOND like sms:5 or email:0.5 (channels email,"
                " sms, push, webhook; more than 0)"
            )
        rates[match.group(1)] = float(match.group(2))
    return rates


class ConfigError(Exception):
    """A setting points at something unusable (a file that is missing or invalid)."""


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
