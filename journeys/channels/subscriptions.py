"""Subscription groups: which marketing messages a customer agreed to, per channel and topic.

Topics live in `topics.yaml` beside the templates; a template names its topic (or says it is
transactional). A group is a (channel, topic) pair. Opt-out groups reach every customer who has
not left them; opt-in groups (SMS offers, where the law asks for prior consent) reach only
customers who joined them. Transactional messages (receipts, password resets) ignore groups
but not suppressions (store/consent.py).
"""

from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from journeys.config.settings import ConfigError
from journeys.vocabulary.journey_spec import Channel

TOPICS_FILE = "topics.yaml"
ALL = "*"


class Topic(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str = ""
    opt_in: list[Channel] = Field(default_factory=list)  # channels that need explicit consent


def load_topics(folder: Path) -> dict[str, Topic]:
    """The folder's topics.yaml (`topics: {name: {description, opt_in}}`); none is fine."""
    path = folder / TOPICS_FILE
    if not path.exists():
        return {}
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return {
            name: Topic.model_validate(body or {})
            for name, body in (raw.get("topics") or {}).items()
        }
    except (OSError, yaml.YAMLError, AttributeError) as err:
        raise ConfigError(f"{path}: {err}") from err
    except ValidationError as err:
        problems = [f"{path}: topics.{'.'.join(map(str, e['loc']))}: {e['msg']}"
                    for e in err.errors()]  # fmt: skip
        raise ConfigError("invalid topics:\n" + "\n".join(problems)) from err


class Preference(Protocol):
    channel: str
    topic: str
    subscribed: bool


def refusal(
    preferences: Iterable[Preference], *, channel: str, topic: str | None, opt_in: bool
) -> str | None:
    """Why a marketing message on `channel` about `topic` must not go (None: it may).

    The most specific preference decides: (channel, topic), then (channel, *), then
    (*, topic), then (*, *). Reasons start with "unsubscribed" or "not opted in", which the
    journey reads as "respect it, try no other channel"."""
    rows = {(p.channel, p.topic): p.subscribed for p in preferences}
    wanted = topic or ALL
    for key in ((channel, wanted), (channel, ALL), (ALL, wanted), (ALL, ALL)):
        if key in rows:
            if rows[key]:
                return None
            what = f"{channel}" if key[1] == ALL else f"{key[1]} on {channel}"
            return f"unsubscribed from {what}" if key != (ALL, ALL) else "unsubscribed from all"
    if opt_in:
        return f"not opted in to {wanted} on {channel}"
    return None
