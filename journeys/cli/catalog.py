"""The catalog commands of `journeys`: publish, list, show, enable, disable, archive, schema.

Synchronous and store-only (JOURNEYS_DATABASE_URL): no Temporal server is needed to publish.
Each returns the process exit code; problems go to stderr.
"""

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

from journeys.channels.templates import load_templates
from journeys.cli.specs import SpecError, load_spec_files
from journeys.config.settings import Settings
from journeys.config.tracking_plan import load_tracking_plan
from journeys.store.db import session_scope
from journeys.store.journeys import (
    CatalogError,
    JourneyStatus,
    get_version,
    list_journeys,
    publish_spec,
    set_status,
)
from journeys.store.models import Journey, JourneyVersion
from journeys.vocabulary.journey_spec import JourneySpec

_STATUS_OF: dict[str, JourneyStatus] = {
    "enable": "active",
    "disable": "disabled",
    "archive": "archived",
}


def add_commands(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    publish = sub.add_parser("publish", help="validate journey spec files, publish changed ones")
    publish.add_argument(
        "paths", nargs="+", type=Path, metavar="PATH", help="a YAML file or a directory of them"
    )
    sub.add_parser("list", help="list journeys: status, latest version, when it was published")
    show = sub.add_parser("show", help="print a journey's spec as YAML")
    show.add_argument("name")
    show.add_argument("--version", type=int, help="this version (default: the latest)")
    for command, what in (
        ("enable", "new customers enter it again"),
        ("disable", "no new entries; runs in flight continue"),
        ("archive", "like disable, and refuse new versions until enabled"),
    ):
        sub.add_parser(command, help=f"{command} a journey: {what}").add_argument("name")
    schema = sub.add_parser("schema", help="print the JSON Schema of journey specs (for editors)")
    schema.add_argument("--output", type=Path, help="write it to this file instead")


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "schema":
        return _schema(args.output)
    if args.command == "publish":
        return _publish(args.paths, settings)
    if args.command == "list":
        return _list(settings.database_url)
    if args.command == "show":
        return _show(args.name, args.version, settings.database_url)
    return _set_status(args.command, args.name, settings.database_url)


def schema_document() -> dict[str, Any]:
    return JourneySpec.model_json_schema(by_alias=True)


def _fail(command: str, message: str) -> int:
    print(f"journeys {command}: {message}", file=sys.stderr)
    return 1


def _publish(paths: list[Path], settings: Settings) -> int:
    """All or nothing: every file is validated (against the tracking plan too) before any is
    published, in one transaction."""
    database_url = settings.database_url
    try:
        specs = load_spec_files(
            paths,
            plan=load_tracking_plan(settings.tracking_plan_file),
            templates=load_templates(settings.templates_dir),
        )
    except SpecError as err:
        for line in err.errors:
            print(line, file=sys.stderr)
        return _fail("publish", f"{len(err.errors)} error(s); nothing published")
    try:
        with session_scope(database_url) as session:
            results = [publish_spec(session, spec=spec) for spec in specs]
    except CatalogError as err:
        return _fail("publish", f"{err}; nothing published")
    for result in results:
        print(f"{result.name} v{result.version} {'published' if result.created else 'unchanged'}")
    return 0


def _list(database_url: str) -> int:
    with session_scope(database_url) as session:
        rows = [
            (
                journey.name,
                journey.status,
                str(journey.latest_version),
                _published_at(session.get(JourneyVersion, (journey.name, journey.latest_version))),
            )
            for journey in list_journeys(session)
        ]
    if not rows:
        print("no journeys published yet")
        return 0
    table = [("NAME", "STATUS", "VERSION", "PUBLISHED"), *rows]
    widths = [max(len(cell) for cell in column) for column in zip(*table, strict=True)]
    for row in table:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    return 0


def _published_at(version: JourneyVersion | None) -> str:
    return version.published_at.strftime("%Y-%m-%d %H:%M UTC") if version else "-"


def _show(name: str, version: int | None, database_url: str) -> int:
    with session_scope(database_url) as session:
        journey = session.get(Journey, name)
        if journey is None:
            return _fail("show", f"no journey {name!r}")
        number = version if version is not None else journey.latest_version
        spec = get_version(session, name=name, version=number)
    if spec is None:
        return _fail(
            "show", f"journey {name!r} has no version {number} (latest: {journey.latest_version})"
        )
    # Defaults left out, so the output reads like the file that was published.
    document = spec.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    print(f"# {name} v{number} ({journey.status})")
    print(yaml.safe_dump(document, sort_keys=False, allow_unicode=True), end="")
    return 0


def _set_status(command: str, name: str, database_url: str) -> int:
    try:
        with session_scope(database_url) as session:
            journey = set_status(session, name=name, status=_STATUS_OF[command])
    except CatalogError as err:
        return _fail(command, str(err))
    print(f"{journey.name} is {journey.status}")
    return 0


def _schema(output: Path | None) -> int:
    text = json.dumps(schema_document(), indent=2) + "\n"
    if output is None:
        print(text, end="")
        return 0
    output.write_text(text)
    print(f"wrote {output}", file=sys.stderr)
    return 0
