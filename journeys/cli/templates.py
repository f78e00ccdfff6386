"""`journeys templates`: `check` a templates folder, `preview` a template for a stored customer.

Store-only (JOURNEYS_DATABASE_URL), like the catalog commands. Each returns the exit code;
problems go to stderr.
"""

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from journeys.channels.previews import PreviewError, preview
from journeys.channels.templates import SHIPPED, RenderError, load_templates, render, render_context
from journeys.config.settings import ConfigError, Settings
from journeys.store.customers import customer_traits
from journeys.store.db import session_scope

COMMAND = "templates"


def add_commands(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    templates = sub.add_parser(COMMAND, help="check message templates, preview one for a customer")
    actions = templates.add_subparsers(dest="action", required=True)
    check = actions.add_parser(
        "check", help="validate a templates folder; exit 1 listing every problem"
    )
    check.add_argument(
        "folder", nargs="?", type=Path, metavar="DIR",
        help="default: JOURNEYS_TEMPLATES_DIR, else the shipped templates/",
    )  # fmt: skip
    show = actions.add_parser("preview", help="render a template for a stored customer")
    show.add_argument("name")
    show.add_argument("--customer", required=True, help="the customer id whose traits to use")
    show.add_argument("--channel", help="one channel (default: every channel the template has)")
    show.add_argument("--properties", help="sample event properties, a JSON object")
    show.add_argument("--products", help="sample products, a JSON array of objects")


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.action == "check":
        return _check(args.folder or settings.templates_dir or SHIPPED)
    return _preview(args, settings)


def _fail(action: str, message: str) -> int:
    print(f"journeys templates {action}: {message}", file=sys.stderr)
    return 1


def _check(folder: Path) -> int:
    """Errors (exit 1): what `load_templates` refuses. Warnings (exit 0): fields that do not
    render for a customer with no traits and a message without properties, which a send would
    hit as an error unless every customer has them."""
    if not folder.is_dir():
        return _fail("check", f"{folder}: not a folder")
    try:
        templates = load_templates(folder)
    except ConfigError as err:
        problems = str(err).splitlines()[1:]  # after the "invalid templates:" heading
        for line in problems:
            print(line, file=sys.stderr)
        return _fail("check", f"{len(problems)} problem(s) in {folder}")
    if not templates:
        return _fail("check", f"{folder}: no templates (*.yaml) found")
    bare = render_context(customer_id="c", traits={}, unsubscribe_url="https://example.invalid/u")
    for name, template in sorted(templates.items()):
        for channel in template.channels():
            try:
                render(template, channel, bare)
            except RenderError as err:
                for field, reason in err.problems:
                    print(f"warning: {name}.{field}: {reason} (no traits, no properties)",
                          file=sys.stderr)  # fmt: skip
    print(f"{len(templates)} template(s) OK in {folder}")
    return 0


def _preview(args: argparse.Namespace, settings: Settings) -> int:
    try:
        properties = _json_option("--properties", args.properties, dict, "a JSON object")
        products = _json_option("--products", args.products, list, "a JSON array")
    except ValueError as err:
        return _fail("preview", str(err))
    templates = load_templates(settings.templates_dir)
    try:
        with session_scope(settings.database_url) as session:
            channels = preview(
                templates=templates, name=args.name, customer_id=args.customer,
                traits=customer_traits(session, customer_id=args.customer),
                channel=args.channel, properties=properties, products=products,
                public_url=settings.public_url, signing_key=settings.signing_key,
            )  # fmt: skip
    except PreviewError as err:  # one line; render problems name channel.field
        problems = [f"{f}: {r}" if err.kind == "render" else r for f, r in err.problems]
        return _fail("preview", f"{err.message}: {'; '.join(problems)}")
    print(f"# {args.name} for customer {args.customer}")
    for channel, content in channels.items():
        print(f"\n[{channel}]")
        for field, value in _fields(content):
            if "\n" in value.rstrip("\n"):
                print(f"{field}:")
                for line in value.rstrip("\n").split("\n"):
                    print(f"  {line}" if line else "")
            else:
                print(f"{field}: {value.rstrip(chr(10))}")
    return 0


def _fields(content: dict[str, Any]) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for field, value in content.items():
        if isinstance(value, dict):
            pairs += [(f"{field}.{k}", str(v)) for k, v in value.items()]
        elif isinstance(value, list):  # pages, or a form's questions
            pairs.append((field, ", ".join(str(getattr(v, "name", v)) for v in value)))
        elif value is not None:
            pairs.append((field, str(value)))
    return pairs


def _json_option(option: str, raw: str | None, kind: type, what: str) -> Any:
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as err:
        raise ValueError(f"{option}: not valid JSON: {err}") from err
    if not isinstance(value, kind):
        raise ValueError(f"{option}: must be {what}")
    return value
