"""`journeys segments`: publish segment definitions, list and show them, list a segment's
members (store only: JOURNEYS_DATABASE_URL), and create or update the batch refresh schedule
(`refresh-schedule`: needs Temporal).

    journeys segments publish my_segments/        # all or nothing
    journeys segments members engaged_runners --limit 50

Each returns the process exit code; problems go to stderr, one line each, saying where.
"""

import argparse
import asyncio
import sys
from pathlib import Path

import yaml

from journeys.config.settings import ConfigError, Settings
from journeys.data import SEGMENTS
from journeys.segments.definition import DefinitionError, SegmentDefinition, parse_definition
from journeys.store.db import session_scope
from journeys.store.segment_sql import compile_problems
from journeys.store.segments import (
    SegmentStatus,
    definition_of,
    get_segment,
    list_segments,
    members,
    save_segment,
    set_segment_status,
)

COMMAND = "segments"
SUFFIXES = (".yaml", ".yml")
SHIPPED = SEGMENTS


def add_commands(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    segments = sub.add_parser(COMMAND, help="segments: publish, list, show, members, schedule")
    actions = segments.add_subparsers(dest="action", required=True)
    publish = actions.add_parser("publish", help="validate segment files, save changed ones")
    publish.add_argument(
        "paths", nargs="+", type=Path, metavar="PATH", help="a YAML file or a directory of them"
    )
    actions.add_parser("list", help="segments: status, version, members")
    show = actions.add_parser("show", help="print a segment's definition as YAML")
    show.add_argument("name")
    listing = actions.add_parser("members", help="the customer ids in a segment now")
    listing.add_argument("name")
    listing.add_argument("--limit", type=int, default=1000)
    for action, what in (("archive", "stop evaluating it; members leave"),
                         ("activate", "evaluate it again")):  # fmt: skip
        actions.add_parser(action, help=f"{action} a segment: {what}").add_argument("name")
    schedule = actions.add_parser(
        "refresh-schedule",
        help="create or update the Temporal Schedule `segment-refresh` (every "
        "JOURNEYS_SEGMENT_REFRESH_INTERVAL)",
    )
    schedule.add_argument("--address", help="Temporal address (default: JOURNEYS_TEMPORAL_ADDRESS)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    url = settings.database_url
    if args.action == "publish":
        return _publish(args.paths, url)
    if args.action == "list":
        return _list(url)
    if args.action == "show":
        return _show(args.name, url)
    if args.action == "members":
        return _members(args.name, args.limit, url)
    if args.action in ("archive", "activate"):
        return _set_status(args.action, args.name, url)
    if args.address:
        settings = settings.model_copy(update={"temporal_address": args.address})
    return asyncio.run(_refresh_schedule(settings))


def _fail(action: str, message: str) -> int:
    print(f"journeys segments {action}: {message}", file=sys.stderr)
    return 1


def load_definition_files(paths: list[Path]) -> tuple[list[SegmentDefinition], list[str]]:
    """The definitions in `paths` (files, or directories of *.yaml, sorted) and every problem
    found, one line each: `file: field path: reason`."""
    files: list[Path] = []
    errors: list[str] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix in SUFFIXES and p.is_file())
            if not found:
                errors.append(f"{path}: no {' or '.join(SUFFIXES)} files in this directory")
            files += found
        elif path.exists():
            files.append(path)
        else:
            errors.append(f"{path}: no such file or directory")
    definitions: dict[str, tuple[Path, SegmentDefinition]] = {}
    for file in dict.fromkeys(files):
        try:
            raw = yaml.safe_load(file.read_text(encoding="utf-8"))
            definition = parse_definition(raw)
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
            errors.append(f"{file}: cannot read: {err}")
            continue
        except DefinitionError as err:
            errors += [f"{file}: {problem}" for problem in err.problems]
            continue
        errors += [f"{file}: condition: {problem}" for problem in compile_problems(definition)]
        if definition.name in definitions:
            other = definitions[definition.name][0]
            errors.append(f"{file}: name: {definition.name!r} is also the name in {other}")
        definitions[definition.name] = (file, definition)
    return [definition for _, definition in definitions.values()], errors


def _publish(paths: list[Path], url: str) -> int:
    definitions, errors = load_definition_files(paths)
    if errors:
        for line in errors:
            print(line, file=sys.stderr)
        return _fail("publish", f"{len(errors)} error(s); nothing published")
    with session_scope(url) as session:
        results = [save_segment(session, definition=d) for d in definitions]
    for result in results:
        state = "published" if result.created else "updated" if result.changed else "unchanged"
        print(f"{result.name} v{result.version} {state}")
    return 0


def _list(url: str) -> int:
    from sqlmodel import func, select

    from journeys.store.models import SegmentMembership

    with session_scope(url) as session:
        counts = dict(
            session.exec(  # type: ignore[call-overload]
                select(SegmentMembership.segment, func.count())
                .where(SegmentMembership.exited_at.is_(None))  # type: ignore[union-attr]
                .group_by(SegmentMembership.segment)
            ).all()
        )
        rows = [
            (s.name, s.status, str(s.version), str(counts.get(s.name, 0)),
             s.updated_at.strftime("%Y-%m-%d %H:%M UTC"))
            for s in list_segments(session)
        ]  # fmt: skip
    if not rows:
        print("no segments published yet")
        return 0
    table = [("NAME", "STATUS", "VERSION", "MEMBERS", "UPDATED"), *rows]
    widths = [max(len(cell) for cell in column) for column in zip(*table, strict=True)]
    for row in table:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return 0


def _show(name: str, url: str) -> int:
    with session_scope(url) as session:
        row = get_segment(session, name=name)
        if row is None:
            return _fail("show", f"no segment {name!r}")
        document = definition_of(row).model_dump(mode="json", by_alias=True, exclude_none=True)
    print(f"# {name} v{row.version} ({row.status})")
    print(yaml.safe_dump(document, sort_keys=False, allow_unicode=True), end="")
    return 0


def _members(name: str, limit: int, url: str) -> int:
    with session_scope(url) as session:
        if get_segment(session, name=name) is None:
            return _fail("members", f"no segment {name!r}")
        rows = members(session, segment=name, limit=limit)
    for row in rows:
        print(f"{row.customer_id}\t{row.entered_at.isoformat()}")
    return 0


def _set_status(action: str, name: str, url: str) -> int:
    from journeys.store.segments import NotFound

    status: SegmentStatus = "archived" if action == "archive" else "active"
    try:
        with session_scope(url) as session:
            row = set_segment_status(session, name=name, status=status)
    except NotFound as err:
        return _fail(action, str(err))
    print(f"{row.name} is {row.status}")
    return 0


async def _refresh_schedule(settings: Settings) -> int:
    from journeys.cli.schedules import SEGMENT_REFRESH_SCHEDULE, ensure_segment_refresh_schedule
    from journeys.config.temporal import connect

    try:
        client = await connect(settings)
    except RuntimeError as err:
        raise ConfigError(f"cannot reach Temporal at {settings.temporal_address}: {err}") from err
    outcome = await ensure_segment_refresh_schedule(client, settings)
    print(
        f"schedule {SEGMENT_REFRESH_SCHEDULE} {outcome}: every "
        f"{settings.segment_refresh_interval} on task queue {settings.task_queue}"
    )
    return 0
