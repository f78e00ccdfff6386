"""Loading the tracking plan (`JOURNEYS_TRACKING_PLAN_FILE`, else the one shipped in
`journeys.data`); the check itself is pure and lives in vocabulary/tracking_plan.py."""

from pathlib import Path

import yaml
from pydantic import ValidationError

from journeys.config.settings import ConfigError
from journeys.data import TRACKING_PLAN
from journeys.vocabulary.tracking_plan import TrackingPlan


def load_tracking_plan(path: Path | None) -> TrackingPlan:
    """The plan in `path`, else the shipped one; ConfigError if it is missing or invalid."""
    path = path or TRACKING_PLAN
    try:
        return TrackingPlan.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (OSError, yaml.YAMLError, ValidationError) as err:
        raise ConfigError(f"tracking plan {path}: {err}") from err
