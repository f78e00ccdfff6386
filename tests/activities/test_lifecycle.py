"""Lifecycle rules from a YAML file: what `JOURNEYS_LIFECYCLE_RULES_FILE` users write."""

from pathlib import Path

import pytest

from journeys.activities.lifecycle import read_lifecycle_config
from journeys.config.settings import ConfigError
from journeys.vocabulary.customer_types import CustomerState
from journeys.vocabulary.events import CustomerEvent, Stage
from journeys.vocabulary.lifecycle import DEFAULT_RULES, next_stage

RULES = """
inactivity_days: 45
rules:
  - event: Trial Started
    stage: consideration
  - event: Subscription Started
    stage: onboarding
    where: {plan: {eq: annual}}
"""


def event(name: str, **properties: object) -> CustomerEvent:
    return CustomerEvent(
        message_id="m",
        type="track",
        event=name,
        timestamp="2026-01-01T00:00:00Z",
        properties=properties,
    )


def test_a_rules_file_replaces_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(RULES)
    config = read_lifecycle_config(path, inactivity_days=30)
    assert config.inactivity_days == 45
    state = CustomerState(customer_id="c", event_counts={"Subscription Started": 1})
    assert next_stage(config.rules, state, event("Trial Started")) == Stage.CONSIDERATION
    assert next_stage(config.rules, state, event("Subscription Started", plan="annual")) == (
        Stage.ONBOARDING
    )
    assert next_stage(config.rules, state, event("Subscription Started", plan="monthly")) is None
    assert next_stage(config.rules, state, event("Product Viewed")) is None  # defaults are gone


def test_no_file_means_the_default_rules(tmp_path: Path) -> None:
    config = read_lifecycle_config(None, inactivity_days=12)
    assert config.rules == DEFAULT_RULES and config.inactivity_days == 12


def test_a_bad_rules_file_names_the_rule_and_field(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("rules:\n  - event: Trial Started\n    stage: delight\n")
    with pytest.raises(ConfigError) as err:
        read_lifecycle_config(path, inactivity_days=30)
    assert str(path) in str(err.value) and "rules.0.stage" in str(err.value)
