"""One backtest shard in a process of its own, so that shards run side by side: a shard's
worker, ingestion and clock all run in one Python process, which uses about one core (its
GIL), and its test server waits on it; two shards in two processes use two.

`run.py` starts `python -m journeys.backtest.shard` in a session of its own (Ctrl-C reaches
only the parent, which asks each shard to stop), writes the job (pickled, base64, one line) to
its standard input, and reads JSON lines from its standard output: progress, then the result
(or the error of a clock that stalled, which the parent raises again).
A line `stop`, or the end of standard input (the parent is gone), stops the shard early, as
Ctrl-C stops a backtest in one process.
"""

import asyncio
import base64
import json
import logging
import os
import pickle
import sys
import threading
import time
import traceback
from typing import IO

from journeys.backtest.events import EventLog
from journeys.backtest.run import ClockStalled, Progress, ShardJob, run_shard

PROGRESS_EVERY_S = 0.2


class _Teller:
    """The progress since the last line, at most every PROGRESS_EVERY_S (and once at the end)."""

    def __init__(self, progress: Progress, out: IO[str]) -> None:
        self.progress, self.out = progress, out
        self.calls, self.customers, self.at = 0, set[str](), 0.0

    def __call__(self, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self.at < PROGRESS_EVERY_S:
            return
        new = self.progress.customers - self.customers
        line = {"calls": self.progress.calls - self.calls, "customers": sorted(new),
                "day": self.progress.day}  # fmt: skip
        self.out.write(json.dumps(line) + "\n")
        self.calls, self.at = self.progress.calls, now
        self.customers |= new


async def _run(job: ShardJob, out: IO[str]) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def listen() -> None:  # blocking reads: a thread, not the event loop
        for line in sys.stdin:
            if line.strip() == "stop":
                break
        loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=listen, daemon=True).start()
    progress = Progress()
    tell = _Teller(progress, out)
    log = EventLog(job.events, existing=True)
    try:
        shift, stopped_at, refused = await run_shard(
            log.slots(job.resolution, job.shard), job, progress=progress, stop=stop, on_step=tell
        )
    finally:
        log.close()
    tell(final=True)
    result = {"shift_s": shift.total_seconds(), "stopped_at": stopped_at.isoformat(),
              "refused": refused}  # fmt: skip
    out.write(json.dumps({"result": result}) + "\n")


def main() -> None:
    # the protocol keeps the real standard output; anything else printed goes to stderr
    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    logging.basicConfig(level=logging.WARNING)
    code = 0
    try:
        job: ShardJob = pickle.loads(base64.b64decode(sys.stdin.readline()))
        asyncio.run(_run(job, out))
    except ClockStalled as err:  # no traceback: the parent says it in one line
        out.write(json.dumps({"error": str(err)}) + "\n")
        code = 1
    except BaseException:
        traceback.print_exc()
        code = 1
    # No interpreter finalization: the SDK core's threads, still winding down a worker that
    # stopped early, can call into a finalizing interpreter, which aborts (exit -6) after the
    # result was written. The test server is shut down already; nothing else needs cleaning.
    out.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
