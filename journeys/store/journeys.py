"""The journey catalog: published specs as immutable, numbered versions, and each journey's status.

A run carries the spec it entered with as workflow input, so a stored version never changes:
publishing edited content adds a version, publishing the same content again adds nothing. New
entries take the latest version of an active journey.
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, get_args

from sqlmodel import Session, col, select

from journeys.store.catalog import bump_catalog
from journeys.store.models import Journey, JourneyVersion
from journeys.store.segments import active_definitions
from journeys.vocabulary.journey_spec import JourneySpec, unrunnable_steps

JourneyStatus = Literal["active", "disabled", "archived"]
STATUSES: tuple[str, ...] = get_args(JourneyStatus)


class CatalogError(Exception):
    """A catalog change that is refused, with the reason."""


class NotFound(CatalogError):
    """No journey (or no such version of it)."""


@dataclass(frozen=True)
class PublishResult:
    name: str
    version: int
    created: bool  # False: the content equals the latest version's, which stays the latest


def spec_document(spec: JourneySpec) -> dict[str, Any]:
    """The JSON stored for a version (aliases, so `from` reads back through the model)."""
    return spec.model_dump(mode="json", by_alias=True)


def content_hash(document: dict[str, Any]) -> str:
    """sha256 of canonical JSON: key order and whitespace in the YAML do not make a version."""
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _same(latest: JourneyVersion, digest: str, spec: JourneySpec) -> bool:
    """The spec is the latest version again: the same document, or one a release stored
    before a field with a default existed (`since` on `wait_for_event`), which reads back as
    the same spec. Either way no new version: runs and reports stay on the one they know."""
    if latest.content_hash == digest:
        return True
    try:
        return JourneySpec.model_validate(latest.spec) == spec
    except ValueError:  # stored by a release whose fields this one no longer reads
        return False


def publish_spec(session: Session, *, spec: JourneySpec) -> PublishResult:
    """Store `spec` as the journey's next version, unless it equals the latest one.

    A disabled journey gets the version and stays disabled; an archived one refuses it.
    """
    document = spec_document(spec)
    _check_runnable(spec)
    _check_segments(session, spec)
    now = datetime.now(UTC)
    # The row lock (PostgreSQL) makes concurrent publishes of one journey take turns, so they
    # cannot both claim the same version number.
    journey = session.get(Journey, spec.name, with_for_update=True)
    if journey is None:
        journey = Journey(name=spec.name, status="active", created_at=now, updated_at=now)
    elif journey.status == "archived":
        raise CatalogError(
            f"journey {spec.name!r} is archived; enable it before publishing a new version"
        )
    digest = content_hash(document)
    if journey.latest_version:
        latest = session.get(JourneyVersion, (spec.name, journey.latest_version))
        if latest is not None and _same(latest, digest, spec):
            return PublishResult(name=spec.name, version=journey.latest_version, created=False)
    journey.latest_version += 1
    journey.updated_at = now
    session.add(journey)
    session.add(
        JourneyVersion(
            name=spec.name,
            version=journey.latest_version,
            spec=document,
            content_hash=digest,
            published_at=now,
        )
    )
    bump_catalog(session)
    session.flush()
    return PublishResult(name=spec.name, version=journey.latest_version, created=True)


def get_version(session: Session, *, name: str, version: int | None = None) -> JourneySpec | None:
    """A version's spec (the latest when `version` is None), or None if there is no such one."""
    if version is None:
        journey = session.get(Journey, name)
        if journey is None:
            return None
        version = journey.latest_version
    row = session.get(JourneyVersion, (name, version))
    return JourneySpec.model_validate(row.spec) if row is not None else None


def latest_version(session: Session, *, name: str) -> int | None:
    """The journey's latest published version; None if it was never published."""
    journey = session.get(Journey, name)
    return journey.latest_version if journey is not None else None


def list_journeys(session: Session) -> list[Journey]:
    return list(session.exec(select(Journey).order_by(col(Journey.name))))


def set_status(session: Session, *, name: str, status: JourneyStatus) -> Journey:
    """Activate, disable or archive a journey; setting the status it has changes nothing."""
    if status not in STATUSES:
        raise CatalogError(f"unknown status {status!r}; use one of {', '.join(STATUSES)}")
    journey = session.get(Journey, name, with_for_update=True)
    if journey is None:
        raise NotFound(f"no journey {name!r}")
    if journey.status != status:
        journey.status = status
        journey.updated_at = datetime.now(UTC)
        session.add(journey)
        bump_catalog(session)
        session.flush()
    return journey


def set_paused(session: Session, *, name: str, reason: str | None) -> Journey:
    """Pause a journey (`reason`) or resume it (None); customers learn of it with the catalog."""
    journey = session.get(Journey, name, with_for_update=True)
    if journey is None:
        raise NotFound(f"no journey {name!r}")
    paused = reason is not None
    if (journey.paused_at is not None) != paused:
        journey.paused_at = datetime.now(UTC) if paused else None
        journey.pause_reason = reason
        journey.updated_at = datetime.now(UTC)
        session.add(journey)
        bump_catalog(session)
        session.flush()
    return journey


def paused_journeys(session: Session) -> set[str]:
    query = select(Journey.name).where(col(Journey.paused_at).is_not(None))
    return set(session.exec(query))


def active_specs(session: Session) -> list[tuple[int, JourneySpec]]:
    """The latest version of every active journey, with its version number, by name."""
    rows = session.exec(
        select(JourneyVersion)
        .join(
            Journey,
            (col(Journey.name) == col(JourneyVersion.name))
            & (col(Journey.latest_version) == col(JourneyVersion.version)),
        )
        .where(col(Journey.status) == "active")
        .order_by(col(Journey.name))
    )
    return [(row.version, JourneySpec.model_validate(row.spec)) for row in rows]


def _check_segments(session: Session, spec: JourneySpec) -> None:
    """Refuse a spec naming a segment that does not exist (or is archived): its trigger would
    never fire, its condition never hold."""
    known = {definition.name for definition in active_definitions(session)}
    problems = [f"{where}: unknown segment {name!r}" for where, name in spec.segments_named()
                if name not in known]  # fmt: skip
    if problems:
        listed = ", ".join(sorted(known)) or "none"
        raise CatalogError(f"{spec.name}: " + "; ".join(problems) + f" (active segments: {listed})")


def _check_runnable(spec: JourneySpec) -> None:
    """Refuse a spec this version's JourneyWorkflow could not run to the end."""
    if problems := unrunnable_steps(spec):
        raise CatalogError(f"{spec.name}: " + "; ".join(problems))
