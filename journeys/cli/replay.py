"""`journeys replay`: replay recent histories from a running server against this code, before a
deploy. Exit 1, naming each workflow and its mismatch, if any history no longer replays.

    journeys replay [--address HOST:PORT] [--query 'ExecutionStatus="Running"'] [--limit 200]
"""

import argparse
import asyncio
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

from temporalio.client import WorkflowHistory
from temporalio.converter import DataConverter
from temporalio.worker import Replayer

from journeys.config.settings import ConfigError, Settings
from journeys.config.temporal import DATA_CONVERTER, data_converter

COMMAND = "replay"
DEFAULT_QUERY = 'ExecutionStatus="Running"'


def add_commands(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    replay = sub.add_parser(COMMAND, help="replay recent histories against this code")
    replay.add_argument("--address", help="Temporal address (default: JOURNEYS_TEMPORAL_ADDRESS)")
    replay.add_argument(
        "--query", default=DEFAULT_QUERY, help=f"which workflows to replay ({DEFAULT_QUERY})"
    )
    replay.add_argument("--limit", type=int, default=200, help="at most this many (200)")
    replay.set_defaults(action="histories")


async def replay_histories(
    histories: Iterable[WorkflowHistory] | AsyncIterator[WorkflowHistory],
    workflows: Sequence[type] | None = None,
    converter: DataConverter = DATA_CONVERTER,
) -> dict[str, str]:
    """Workflow id -> the replay failure, for every history that no longer replays."""
    if workflows is None:
        from journeys.worker.main import WORKFLOWS

        workflows = WORKFLOWS
    replayer = Replayer(workflows=list(workflows), data_converter=converter)
    failures: dict[str, str] = {}
    if not isinstance(histories, AsyncIterator):
        histories = _aiter(histories)
    async with replayer.workflow_replay_iterator(histories) as results:
        async for result in results:
            if result.replay_failure is not None:
                failures[result.history.workflow_id] = str(result.replay_failure)
    return failures


async def _aiter(items: Iterable[Any]) -> AsyncIterator[Any]:
    for item in items:
        yield item


def run(args: argparse.Namespace, settings: Settings) -> int:
    from journeys.config.temporal import connect

    async def go() -> tuple[int, dict[str, str]]:
        try:
            client = await connect(settings, address=args.address)
        except RuntimeError as err:
            raise ConfigError(f"cannot reach Temporal: {err}") from err
        listed = client.list_workflows(args.query, limit=args.limit)
        seen = 0

        async def counted() -> AsyncIterator[WorkflowHistory]:
            nonlocal seen
            async for history in listed.map_histories():
                seen += 1
                yield history

        failures = await replay_histories(counted(), converter=data_converter(settings))
        return seen, failures

    seen, failures = asyncio.run(go())
    for workflow_id, error in failures.items():
        print(f"{workflow_id}: {error}")
    print(f"replayed {seen} histories: {len(failures)} failed")
    return 1 if failures else 0
