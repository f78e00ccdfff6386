"""structlog set-up: pretty on a terminal, JSON lines otherwise, stdlib logs routed through it.

Temporal's `workflow.logger` and `activity.logger` are stdlib loggers, so routing the stdlib
through structlog's formatter makes every log line of a process come out the same way.
"""

import logging
import sys

import structlog
from temporalio import activity, workflow


def configure_logging(level: str = "INFO", fmt: str = "auto") -> None:
    """Configure once per entry point (API, worker, CLI)."""
    use_console = fmt == "console" or (fmt == "auto" and sys.stderr.isatty())
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.types.Processor = (
        structlog.dev.ConsoleRenderer() if use_console else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder()],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Temporal's loggers put their context in `extra` (rendered as fields), not in the message.
    workflow.logger.workflow_info_on_message = False
    activity.logger.activity_info_on_message = False
    # alembic announces its dialect on every check; our own store_schema_upgraded says what changed
    for noisy in ("uvicorn.access", "httpx", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
