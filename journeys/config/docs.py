"""docs/settings.md, rendered from the Settings fields: every `JOURNEYS_*` variable with its
type, default and description, so the page cannot drift from the code (a test compares them).

    python -m journeys.config.docs --write  # or: python -m journeys.config.docs > docs/settings.md
"""

import argparse
import sys
import types
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, NoDecode

from journeys.config.settings import Settings

PAGE = Path(__file__).resolve().parents[2] / "docs" / "settings.md"
COMMAND = "python -m journeys.config.docs --write"

HEADER = f"""\
# Settings

<!-- Generated from journeys/config/settings.py by `{COMMAND}`; do not edit by hand. -->

All settings are environment variables, read into one pydantic-settings object
(`journeys/config/settings.py`, `Settings`) shared by the API, the worker, the CLI and the tests.
Each is validated at start-up: a bad value stops the process naming the variable. Durations take
`30m`, `6h`, `1d` (or ISO 8601, `PT6H`); lists are comma-separated."""

# Read outside Settings, by code that must not depend on it; kept here so the page lists them.
OTHER_VARIABLES = (
    (
        "`JOURNEYS_DATA_CACHE`",
        "`~/.cache/journeys-data`",
        "where tests and benchmarks keep the registry wheels they read public data from"
        " (`bench/wheels.py`)",
    ),
    (
        "`OTEL_EXPORTER_OTLP_*`",
        "*(none)*",
        "where OpenTelemetry spans go with `JOURNEYS_TRACING=otlp` (the exporter's standard"
        " variables)",
    ),
)

UNITS = (("d", timedelta(days=1)), ("h", timedelta(hours=1)), ("m", timedelta(minutes=1)))


def undocumented(model: type[BaseModel] = Settings) -> list[str]:
    """Fields (dotted through nested models) that have no `description=`."""
    missing = []
    for name, field in model.model_fields.items():
        if not field.description:
            missing.append(name)
        nested = _nested_model(field)
        if nested is not None:
            missing += [f"{name}.{sub}" for sub in undocumented(nested)]
    return missing


def render(model: type[BaseSettings] = Settings) -> str:
    """The whole page: one table of the top-level fields, then one per nested model."""
    prefix = model.model_config.get("env_prefix") or ""
    delimiter = model.model_config.get("env_nested_delimiter") or ""
    out = [HEADER]
    out += _table(model, prefix.upper(), delimiter, title=None)
    for name, field in model.model_fields.items():
        nested = _nested_model(field)
        if nested is not None:
            out += _nested_section(name, field, nested, prefix.upper(), delimiter)
    out += ["", "## Read outside the settings object", ""]
    out += ["| variable | default | description |", "|---|---|---|"]
    out += [f"| {var} | {default} | {text} |" for var, default, text in OTHER_VARIABLES]
    return "\n".join(out) + "\n"


def _table(model: type[BaseModel], prefix: str, delimiter: str, title: str | None) -> Iterator[str]:
    if title:
        yield from ("", f"## {title}", "")
    yield from ("", "| variable | type | default | description |", "|---|---|---|---|")
    for name, field in model.model_fields.items():
        if _nested_model(field) is not None and delimiter:
            continue  # its fields get their own section
        yield (
            f"| `{_env_name(name, field, prefix)}` | {_type(field)} | {_default(field)}"
            f" | {_cell(field.description or '*(no description)*')} |"
        )


def _nested_section(
    name: str, field: FieldInfo, nested: type[BaseModel], prefix: str, delimiter: str
) -> Iterator[str]:
    env = _env_name(name, field, prefix)
    if delimiter:
        yield from ("", f"## `{env}{delimiter}*`", "")
        if field.description:
            yield _cell(field.description)
        yield from _table(nested, env + delimiter, delimiter, title=None)
    else:  # one variable holding a JSON object; its keys described below
        yield from ("", f"## `{env}` (a JSON object)", "")
        yield "| key | type | default | description |"
        yield "|---|---|---|---|"
        for sub, subfield in nested.model_fields.items():
            yield (
                f"| `{sub}` | {_type(subfield)} | {_default(subfield)}"
                f" | {_cell(subfield.description or '*(no description)*')} |"
            )


def _env_name(name: str, field: FieldInfo, prefix: str) -> str:
    alias = field.validation_alias if isinstance(field.validation_alias, str) else field.alias
    return (alias or prefix + name).upper()


def _nested_model(field: FieldInfo) -> type[BaseModel] | None:
    for candidate in (field.annotation, *get_args(field.annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _type(field: FieldInfo) -> str:
    text = _type_name(field.annotation)
    if any(item is NoDecode or isinstance(item, NoDecode) for item in field.metadata):
        text += ", comma-separated"
    for item in field.metadata:
        for attr, sign in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<")):
            bound = getattr(item, attr, None)
            if isinstance(item, annotated_types.BaseMetadata) and bound is not None:
                text += f" {sign} {_value(bound)}"
    return text


def _type_name(annotation: Any) -> str:
    origin = get_origin(annotation)
    if origin is Annotated:
        return _type_name(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        names = [_type_name(arg) for arg in get_args(annotation) if arg is not type(None)]
        optional = type(None) in get_args(annotation)
        return " or ".join(names) + (", optional" if optional else "")
    if origin is list:
        return f"list of {_type_name(get_args(annotation)[0])}"
    if annotation is timedelta:
        return "duration"
    if annotation is Path:
        return "path"
    return getattr(annotation, "__name__", str(annotation))


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "*(required)*"
    value = field.get_default(call_default_factory=True, validated_data={})
    if value is None or value == []:
        return "*(none)*"
    return f"`{_value(value)}`"


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, timedelta):
        if value <= timedelta(0):
            return "0"
        for unit, size in UNITS:
            if value % size == timedelta(0):
                return f"{value // size}{unit}"
        return f"{value.total_seconds():g}s"
    if isinstance(value, list):
        return ",".join(_value(item) for item in value)
    return str(value)


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m journeys.config.docs", description=__doc__)
    parser.add_argument("--write", action="store_true", help=f"write {PAGE.name} in docs/")
    args = parser.parse_args(argv)
    page = render()
    missing = undocumented()
    if missing:
        print(f"settings without a description: {', '.join(missing)}", file=sys.stderr)
    if args.write:
        PAGE.write_text(page)
    else:
        sys.stdout.write(page)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
