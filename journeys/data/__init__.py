"""The data the product ships: journeys (with the tracking plan and the spec's JSON Schema),
message templates and segment definitions, found as package data wherever it is installed."""

from importlib.resources import files
from pathlib import Path


def _shipped(name: str) -> Path:
    # A wheel installs as plain files, so the resource is a real directory; Path() keeps the
    # callers' globbing and `open()` working without an extraction step.
    return Path(str(files(__name__) / name))


JOURNEYS = _shipped("journeys")
TRACKING_PLAN = JOURNEYS / "tracking_plan.yaml"
JOURNEY_SCHEMA = JOURNEYS / "journey.schema.json"
TEMPLATES = _shipped("templates")
SEGMENTS = _shipped("segments")
DEMO = _shipped("demo")  # what `journeys up` adds for its demo: the popover tour, the shop page
