"""The floor of bench/ingest.py: the cheapest thing Temporal can do per event.

A trivial workflow that only counts `tick` signals (one signal per event, started by
signal-with-start) and answers a `count` query, and a worker for it. The worker runs as its own
process (`python -m bench.floor --address HOST:PORT --task-queue Q`) so that it does not share
the benchmark client's interpreter, exactly like `journeys worker` does not.

Kept import-light (temporalio only): the workflow sandbox re-imports this module for each run,
as it does workflows/customer.py for CustomerWorkflow. Same data converter as the product.
"""

import argparse
import asyncio
import os
import signal
import sys
from pathlib import Path

from temporalio import workflow

if __package__ in (None, ""):  # `python bench/floor.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SIGNAL = "tick"
QUERY = "count"


@workflow.defn(name="BenchFloor")
class FloorWorkflow:
    def __init__(self) -> None:
        self.count = 0

    @workflow.signal(name=SIGNAL)
    def tick(self, message_id: str) -> None:
        self.count += 1

    @workflow.query(name=QUERY)
    def get_count(self) -> int:
        return self.count

    @workflow.run
    async def run(self) -> None:  # lives like a customer: until terminated
        await workflow.wait_condition(lambda: False)


async def _serve(address: str, task_queue: str) -> None:
    from temporalio.client import Client
    from temporalio.worker import Worker

    from bench.floor import FloorWorkflow as Floor  # by module name, not __main__, for the sandbox
    from journeys.config.temporal import DATA_CONVERTER

    client = await Client.connect(address, data_converter=DATA_CONVERTER)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with Worker(client, task_queue=task_queue, workflows=[Floor]):
        await stop.wait()
        # graceful shutdown retries forever if the server is already gone: bound it
        loop.call_later(5.0, os._exit, 0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="worker for the benchmark's floor workflow")
    parser.add_argument("--address", required=True)
    parser.add_argument("--task-queue", required=True)
    args = parser.parse_args(argv)
    asyncio.run(_serve(args.address, args.task_queue))


if __name__ == "__main__":
    main()
