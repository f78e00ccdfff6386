"""`journeys backtest SPEC.yaml [SPEC2.yaml] --events FILE`: what a journey would have done with
a historical event log, run through the real workflows on Temporal's time-skipping server with
nothing sent (journeys.backtest). Two specs run over the same log side by side, with b − a.

    journeys backtest post_purchase.yaml --events log.ndjson [--from DATE] [--to DATE]
    journeys backtest v1.yaml v2.yaml --events - --csv --json
    journeys backtest spec.yaml --events log.ndjson --explain CUSTOMER
    journeys backtest v1.yaml v2.yaml --events log.ndjson --html report.html

The report goes to standard output (a table, or JSON with `--json`); progress and speed go to
standard error. Ctrl-C stops the feed and reports what was done so far (`"complete": false`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import signal
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from journeys.channels.templates import load_templates
from journeys.cli.specs import SpecError, load_spec_files
from journeys.cli.text import instant, table
from journeys.config.settings import WINDOW_UNITS, ConfigError, Settings
from journeys.config.tracking_plan import load_tracking_plan
from journeys.vocabulary.ids import identified_customer_id
from journeys.vocabulary.journey_spec import JourneySpec

if TYPE_CHECKING:
    from journeys.backtest.events import LogSummary

COMMAND = "backtest"
# The test server slows with every workflow it holds: 1,000 CDNOW customers ran at 3,700
# customer-days a second, 4,000 at 2,100 (bench/README.md).
SHARD_SIZE = 1000


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        COMMAND, help="run a journey spec over a historical event log (nothing is sent)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    parser.add_argument(
        "specs", nargs="+", type=Path, metavar="SPEC.yaml",
        help="the journey spec; a second one runs beside it",
    )  # fmt: skip
    parser.add_argument(
        "--events", required=True, metavar="FILE",
        help="NDJSON of Segment calls with timestamps (or --csv); - for standard input",
    )  # fmt: skip
    parser.add_argument(
        "--csv", action="store_true",
        help="FILE is CSV: customer_id,timestamp,event[,properties JSON]",
    )  # fmt: skip
    parser.add_argument("--from", dest="start", type=instant, help="UTC, inclusive")
    parser.add_argument("--to", dest="end", type=instant, help="UTC, exclusive")
    parser.add_argument(
        "--resolution", type=_seconds, default=timedelta(minutes=1), metavar="SECONDS",
        help="calls this close together are delivered at once (default 60)",
    )  # fmt: skip
    parser.add_argument(
        "--shard-size", type=_positive, default=SHARD_SIZE, metavar="N",
        help=f"run at most about N customers on one test server at a time (default {SHARD_SIZE})",
    )  # fmt: skip
    parser.add_argument(
        "--jobs", type=_positive, default=os.cpu_count() or 1, metavar="N",
        help="run up to N shards at once, each in a process of its own (default: the number "
        "of cores); the report is the same for any N",
    )  # fmt: skip
    parser.add_argument(
        "--refresh-every", type=_duration, default=timedelta(days=1), metavar="DURATION",
        help="for a spec naming segments: re-evaluate every segment this often in simulated "
        "time (default 1d; the product's schedule is JOURNEYS_SEGMENT_REFRESH_INTERVAL)",
    )  # fmt: skip
    parser.add_argument(
        "--clv-fit-every", type=_duration, default=timedelta(days=7), metavar="DURATION",
        help="for a spec naming segments: fit the CLV model this often (default 7d; the "
        "product's is JOURNEYS_CLV_FIT_INTERVAL)",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="the report as JSON")
    parser.add_argument(
        "--html", type=Path, metavar="FILE",
        help="also write the report as a page with charts (self-contained, no network)",
    )  # fmt: skip
    parser.add_argument(
        "--explain", metavar="CUSTOMER", help="also print this customer's path (its userId)"
    )
    parser.set_defaults(action="")


def _seconds(text: str) -> timedelta:
    try:
        value = float(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from err
    if not 0 <= value <= 86_400:
        raise argparse.ArgumentTypeError("between 0 and 86400 seconds")
    return timedelta(seconds=value)


def _duration(text: str) -> timedelta:
    match = re.fullmatch(r"\s*(\d+)\s*([mhd])\s*", text)
    if not match or int(match.group(1)) == 0:
        raise argparse.ArgumentTypeError(f"not a duration like 30m, 1h or 7d: {text!r}")
    return int(match.group(1)) * WINDOW_UNITS[match.group(2)]


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from err
    if value < 1:
        raise argparse.ArgumentTypeError("at least 1")
    return value


def _fail(message: str) -> int:
    print(f"journeys backtest: {message}", file=sys.stderr)
    return 1


def run(args: argparse.Namespace, settings: Settings) -> int:
    if len(args.specs) > 2:
        return _fail("at most two specs (a version and the one to compare it with)")
    if args.start and args.end and args.end <= args.start:
        return _fail("--to must be after --from")
    if args.html and not args.html.parent.is_dir():
        return _fail(f"--html: no such folder: {args.html.parent}")
    try:
        specs = [_load_spec(path, settings) for path in args.specs]
    except SpecError as err:
        for line in err.errors:
            print(line, file=sys.stderr)
        return _fail(f"{len(err.errors)} error(s) in the spec")
    try:
        return asyncio.run(_backtest(args, specs, settings))
    except ConfigError as err:
        return _fail(str(err))


def _load_spec(path: Path, settings: Settings) -> JourneySpec:
    """Checked as `journeys publish` checks it (tracking plan, templates)."""
    return load_spec_files(
        [path],
        plan=load_tracking_plan(settings.tracking_plan_file),
        templates=load_templates(settings.templates_dir),
    )[0]


async def _backtest(args: argparse.Namespace, specs: list[JourneySpec], settings: Settings) -> int:
    from journeys.backtest.events import EventLog, open_source, temporary_directory

    # a line per message sent would drown the progress: the report is the output
    root = logging.getLogger()
    root.setLevel(max(root.level, logging.WARNING))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, stop.set)
    errors = Console(stderr=True)
    with temporary_directory() as tmp:
        directory = Path(tmp)
        source, name = open_source(args.events)
        log = EventLog(directory)
        with source:
            summary = await asyncio.to_thread(
                log.load, source, name=name, csv_format=args.csv, start=args.start, end=args.end
            )
        if summary.calls == 0:
            raise ConfigError(f"{name}: no calls in the window")
        # the worker and numpy behind these take a second: after the log is known to be good
        from journeys.backtest.report import build_report, compare, explain
        from journeys.backtest.run import ClockStalled, Schedules, run_backtest
        from journeys.backtest.run import Progress as Fed

        await asyncio.to_thread(log.split, args.shard_size)
        reports, explained, began = [], [], time.monotonic()
        for side, spec in enumerate(specs):
            part = directory / f"run-{side}"
            part.mkdir()
            fed = Fed()
            label = spec.name
            if len(specs) > 1:  # two versions of one journey share its name, not its file
                label = f"{'ab'[side]}: {spec.name} ({args.specs[side].name})"
            with _progress(errors) as bar:
                task = bar.add_task(label, total=1, shard=1, shards=1, customers=0, calls=0)

                def shown(fed: Fed = fed, task: Any = task, bar: Progress = bar) -> None:
                    bar.update(task, completed=fed.day, total=fed.days, shard=fed.shard + 1,
                               shards=fed.shards, customers=len(fed.customers),
                               calls=fed.calls)  # fmt: skip

                try:
                    backtest = await run_backtest(
                        spec, log, summary, settings, part, start=args.start, end=args.end,
                        resolution=args.resolution, progress=fed, stop=stop, on_step=shown,
                        schedules=Schedules(args.refresh_every, args.clv_fit_every),
                        jobs=args.jobs,
                    )  # fmt: skip
                except ClockStalled as err:  # said plainly, as a bad input is
                    raise ConfigError(str(err)) from err
                shown()
            report = await asyncio.to_thread(build_report, backtest, spec, summary)
            reports.append({**report, "spec": str(args.specs[side])})  # as typed
            if args.explain:
                customer = identified_customer_id(args.explain)
                explained.append((label, explain(backtest, customer, spec.name)))
            if stop.is_set():
                break
        _speed(summary, reports[0], time.monotonic() - began, len(reports))
        log.close()
    # stopped before the second spec ran: the first one's (partial) report alone
    document = reports[0] if len(reports) == 1 else compare(reports[0], reports[1])
    if args.json:
        print(json.dumps(document, indent=2, sort_keys=True))
    else:
        print(_table(reports))
    for label, lines in explained:
        print(f"\n{args.explain} in {label}:" if len(specs) > 1 else f"\n{args.explain}:")
        print("\n".join(lines) if lines else "  nothing in the log or the journey")
    if args.html:  # after the report: a page that cannot be written loses nothing else
        from journeys.charts.backtest import render  # numpy and the page: only when asked

        try:
            args.html.write_text(render(reports), encoding="utf-8")
        except OSError as err:
            raise ConfigError(f"--html: {args.html}: {err.strerror}") from err
    return 130 if stop.is_set() else 0


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(),
        TextColumn("shard {task.fields[shard]}/{task.fields[shards]}, "
                   "day {task.completed:.0f}/{task.total:.0f}"),
        TextColumn("{task.fields[customers]} customers, {task.fields[calls]} calls"),
        TimeElapsedColumn(), console=console, transient=True, disable=not console.is_terminal,
    )  # fmt: skip


def _speed(log: LogSummary, report: dict[str, Any], seconds: float,
           runs: int) -> None:  # fmt: skip
    """Customer-days a second: customers in the log times simulated days, per wall second."""
    start = datetime.fromisoformat(report["window"]["from"])
    end = datetime.fromisoformat(report["window"]["to"])
    customer_days = log.customers * max((end - start).total_seconds() / 86_400, 0) * runs
    print(
        f"backtest: {log.calls} calls, {log.customers} customers, "
        f"{(end - start).days} days, {runs} run(s) in {seconds:.1f} s: "
        f"{customer_days / max(seconds, 1e-9):,.0f} customer-days a second",
        file=sys.stderr,
    )


def _table(reports: list[dict[str, Any]]) -> str:
    from journeys.charts.backtest import figure_rows, report_labels  # numpy: once there is one

    title = ", ".join(
        f"{label} {r['window']['from'][:10]} to {r['window']['to'][:10]}"
        + ("" if r["complete"] else " (stopped early)")
        for label, r in zip(report_labels(reports), reports, strict=True)
    )
    columns = ["figure"] if len(reports) == 1 else ["a", "b", "b − a"]
    body = [[key, *(_cell(v) for v in cells)] for key, *cells in figure_rows(reports)]
    return title + "\n" + table(["", *columns], body)


def _cell(value: Any) -> str:
    return "-" if value is None else str(value)
