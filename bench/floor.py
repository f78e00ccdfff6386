"""The floors: the cheapest thing Temporal can do for each benchmark's job.

For bench/ingest.py, a trivial workflow that only counts `tick` signals (one signal per event,
started by signal-with-start) and answers a `count` query. For bench/journeys.py, a bare
workflow per customer that does the sends the journeys owe and nothing else: started by one
signal-with-start (or, the event floor, one signal-with-start per incoming event), one activity
per send (an email over SMTP to the same receiver). One worker
serves both. The worker runs as its own
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
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from pathlib import Path

from temporalio import activity, workflow

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


SEND_SIGNAL = "go"


@dataclass
class Send:
    to: str
    subject: str
    after: int = 0  # sent once this many `go` signals beyond the first have come


@dataclass
class SendFloorInput:
    sends: list[Send]
    signals: int = 1  # the run ends once this many have come: a late one never starts another


@activity.defn(name="BenchFloorSend")
def send_email(send: Send) -> None:
    """One email to the benchmark's SMTP receiver: what a journey's send activity ends with."""
    import smtplib
    from email.message import EmailMessage

    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "floor@bench.test", send.to, send.subject
    message.set_content("floor")
    with smtplib.SMTP(os.environ["BENCH_SMTP_HOST"], int(os.environ["BENCH_SMTP_PORT"])) as smtp:
        smtp.send_message(message)


@workflow.defn(name="BenchSendFloor")
class SendFloorWorkflow:
    """Signal-with-start, then the customer's sends one after another, then done. The event
    floor signals once per incoming event (as the API signals a customer) and each send waits for
    the event that owes it (`Send.after`); the plain floor signals once and sends at once."""

    def __init__(self) -> None:
        self.signals = 0

    @workflow.signal(name=SEND_SIGNAL)
    def go(self) -> None:
        self.signals += 1

    @workflow.run
    async def run(self, input: SendFloorInput) -> None:
        for send in input.sends:
            await workflow.wait_condition(partial(self._heard_more_than, send.after))
            await workflow.execute_activity(
                send_email, send, start_to_close_timeout=timedelta(seconds=30)
            )
        await workflow.wait_condition(partial(self._heard_more_than, input.signals - 1))

    def _heard_more_than(self, count: int) -> bool:
        return self.signals > count


async def _serve(address: str, task_queue: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from temporalio.client import Client
    from temporalio.worker import Worker

    from bench.floor import FloorWorkflow as Floor  # by module name, not __main__, for the sandbox
    from bench.floor import SendFloorWorkflow as SendFloor
    from bench.floor import send_email as send
    from journeys.config.temporal import DATA_CONVERTER

    client = await Client.connect(address, data_converter=DATA_CONVERTER)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[Floor, SendFloor],
        activities=[send],
        activity_executor=ThreadPoolExecutor(max_workers=20),
    ):
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
