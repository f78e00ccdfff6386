"""The lifecycle rules a worker serves, read once at worker start so a bad file fails early."""

from pathlib import Path

import yaml
from pydantic import ValidationError
from temporalio import activity

from journeys.config.settings import ConfigError
from journeys.vocabulary.activity_refs import LOAD_LIFECYCLE_CONFIG
from journeys.vocabulary.customer_types import LifecycleConfig
from journeys.vocabulary.lifecycle import DEFAULT_RULES


def read_lifecycle_config(path: Path | None, inactivity_days: float) -> LifecycleConfig:
    """The default rules, or those of a YAML file (a list under `rules:`)."""
    if path is None:
        return LifecycleConfig(rules=DEFAULT_RULES, inactivity_days=inactivity_days)
    where = f"JOURNEYS_LIFECYCLE_RULES_FILE={path}"
    try:
        data = yaml.safe_load(path.read_text()) or {}
        if not isinstance(data, dict):
            raise ConfigError(f"{where}: expected a mapping with `rules:`")
        data.setdefault("inactivity_days", inactivity_days)
        return LifecycleConfig.model_validate(data)
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f"{where}: {err}") from err
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors())
        raise ConfigError(f"{where}: {problems}") from err


class LifecycleActivities:
    def __init__(self, config: LifecycleConfig) -> None:
        self.config = config

    @activity.defn(name=LOAD_LIFECYCLE_CONFIG.name)
    def load_lifecycle_config(self) -> LifecycleConfig:
        """Called at the start of each customer run, so new rules reach running customers at
        their next continue-as-new and replay keeps the rules each run was given."""
        return self.config
