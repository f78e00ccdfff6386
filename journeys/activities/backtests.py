"""The `run_backtest` activity behind `POST /v1/backtests`: the store's own calls in the window,
written as the NDJSON log `journeys events export` writes, through `journeys backtest` in a
child process (its test server and worker stay out of this worker's process and its memory),
and the report kept in the store.

Cancelling the workflow stops the child as Ctrl-C does: it prints the partial report, which is
kept with the status `stopped`."""

import asyncio
import json
import os
import signal
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from temporalio import activity

from journeys.store.backtest_runs import finish_backtest
from journeys.store.db import session_scope
from journeys.store.events import export_calls
from journeys.vocabulary.activity_refs import RUN_BACKTEST
from journeys.vocabulary.backtest_types import BacktestInput, BacktestResult

HEARTBEAT_EVERY = 2.0  # seconds; the SDK sends at most one in 5 (the worker's throttle)
EXIT_STOPPED = 130  # `journeys backtest` after Ctrl-C: a partial report
T = TypeVar("T")


class BacktestActivities:
    def __init__(self, database_url: str) -> None:
        self.database_url = database_url

    @activity.defn(name=RUN_BACKTEST.name)
    async def run_backtest(self, input: BacktestInput) -> BacktestResult:
        with tempfile.TemporaryDirectory(prefix="journeys-backtest-") as tmp:
            folder = Path(tmp)
            specs = []
            for n, spec in enumerate(input.specs):
                specs.append(folder / f"spec-{n}.json")  # JSON is YAML: the CLI reads it
                specs[-1].write_text(json.dumps(spec), encoding="utf-8")
            log = folder / "events.ndjson"
            exporting = asyncio.ensure_future(
                asyncio.to_thread(self._export, log, input.start, input.end)
            )
            try:  # a shop's year can take minutes: beat meanwhile, or the heartbeat times out
                calls = await _beating(exporting)
            except asyncio.CancelledError:
                await asyncio.to_thread(self._finish, input, "stopped", None, "cancelled")
                raise
            if calls == 0:
                error = "no calls in the store in the window"
                await asyncio.to_thread(self._finish, input, "failed", None, error)
                return BacktestResult(status="failed", error=error)
            child = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "journeys.cli.main", "backtest", *map(str, specs),
                "--events", str(log), "--from", _iso(input.start), "--to", _iso(input.end),
                "--json", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                # the worker's settings (caps, quiet hours, files) and this store's reference rows
                env={**os.environ, "JOURNEYS_DATABASE_URL": self.database_url},
            )  # fmt: skip
            done = asyncio.ensure_future(child.communicate())
            try:
                await _beating(done)
            except asyncio.CancelledError:
                if child.returncode is None:
                    child.send_signal(signal.SIGINT)  # the partial report, as after Ctrl-C
                out, _ = await done
                report = _report(out, input.sources)
                await asyncio.to_thread(self._finish, input, "stopped", report, "cancelled")
                raise
            out, err = done.result()
        if child.returncode in (0, EXIT_STOPPED):
            result = BacktestResult(status="done" if child.returncode == 0 else "stopped",
                                    calls=calls)  # fmt: skip
            report = _report(out, input.sources)
            await asyncio.to_thread(self._finish, input, result.status, report, "")
            return result
        said = err.decode(errors="replace").strip().splitlines()
        error = said[-1] if said else f"journeys backtest exited with {child.returncode}"
        if child.returncode != 1:  # not a refusal of its input: let Temporal retry it
            raise RuntimeError(error)
        await asyncio.to_thread(self._finish, input, "failed", None, error)
        return BacktestResult(status="failed", calls=calls, error=error)

    def _export(self, path: Path, start: datetime, end: datetime) -> int:
        with session_scope(self.database_url) as session, path.open("w", encoding="utf-8") as out:
            return export_calls(session, out, start=start, end=end)

    def _finish(
        self, input: BacktestInput, status: str, report: dict[str, Any] | None, error: str
    ) -> None:
        with session_scope(self.database_url) as session:
            finish_backtest(session, backtest_id=input.backtest_id, status=status,
                            report=report, error=error)  # fmt: skip


async def _beating(work: asyncio.Future[T]) -> T:
    """`work`'s result, heartbeating until it is done. A cancel comes with a heartbeat's
    answer and raises here; `work` itself goes on (the caller decides what becomes of it)."""
    while not work.done():
        await asyncio.wait({work}, timeout=HEARTBEAT_EVERY)
        activity.heartbeat()
    return work.result()


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def _report(out: bytes, sources: list[str]) -> dict[str, Any] | None:
    """The command's JSON report, each side named by its source (the command named it by
    the temporary file it read)."""
    try:
        report: dict[str, Any] = json.loads(out)
    except ValueError:
        return None  # stopped before a report
    sides = [report[side] for side in ("a", "b") if side in report] or [report]
    for side, source in zip(sides, sources, strict=False):
        side["spec"] = source
    return report
