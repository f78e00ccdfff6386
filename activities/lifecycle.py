"""The lifecycle rules a worker serves, read once at worker start so a bad file fails early."""

from pathlib import Path

import yaml
from temporalio import activity

from workflows.lifecycle import DEFAULT_RULES
from workflows.types import LifecycleConfig


def read_lifecycle_config(path: Path | None, inactivity_days: float) -> LifecycleConfig:
    """The default rules, or those of a YAML file (a list under `rules:`)."""
    if path is None:
        return LifecycleConfig(rules=DEFAULT_RULES, inactivity_days=inactivity_days)
    data = yaml.safe_load(path.read_text()) or {}
    data.setdefault("inactivity_days", inactivity_days)
    return LifecycleConfig.model_validate(data)


class LifecycleActivities:
    def __init__(self, config: LifecycleConfig) -> None:
        self.config = config

    @activity.defn(name="load_lifecycle_config")
    def load_lifecycle_config(self) -> LifecycleConfig:
        """Called at the start of each customer run, so new rules reach running customers at
        their next continue-as-new and replay keeps the rules each run was given."""
        return self.config
