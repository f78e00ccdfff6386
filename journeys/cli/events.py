"""`journeys events export [--from DATE] [--to DATE] [--output FILE]`: the store's accepted calls
as NDJSON, one Segment call per line in time order — the log `journeys backtest` reads, so a
journey can be tried on the shop's own history. Each line carries its messageId and its
effective timestamp (clock skew already corrected); calls Temporal never took are left out.
"""

import argparse
import sys
from pathlib import Path
from typing import IO

from journeys.cli.text import instant
from journeys.config.settings import ConfigError, Settings
from journeys.store.backtest import live_store_exists
from journeys.store.db import session_scope
from journeys.store.events import export_calls

COMMAND = "events"


def add_commands(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    events = sub.add_parser(COMMAND, help="the store's events: export as a backtest's log")
    actions = events.add_subparsers(dest="action", required=True)
    export = actions.add_parser("export", help="accepted calls as NDJSON, in time order")
    export.add_argument("--from", dest="start", type=instant, help="UTC, inclusive")
    export.add_argument("--to", dest="end", type=instant, help="UTC, exclusive")
    export.add_argument("--output", type=Path, help="a file (default: standard output)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.start and args.end and args.end <= args.start:
        raise ConfigError("--to must be after --from")
    if not live_store_exists(settings.database_url):
        raise ConfigError(f"no store at {settings.database_url}")
    try:
        out: IO[str] = args.output.open("w", encoding="utf-8") if args.output else sys.stdout
    except OSError as err:
        raise ConfigError(f"{args.output}: {err.strerror}") from err
    with session_scope(settings.database_url) as session:
        count = export_calls(session, out, start=args.start, end=args.end)
    if args.output:
        out.close()
    print(f"journeys events export: {count} calls", file=sys.stderr)
    return 0
