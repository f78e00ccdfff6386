"""Experiment journeys in a store: a spec with an a/b split, the records its runs leave, and the
weights a published version gives its variants."""

from datetime import UTC, datetime
from typing import Any

from journeys.store.db import session_scope
from journeys.store.journey_runs import record_journey_event
from journeys.store.journeys import get_version, publish_spec
from journeys.vocabulary.journey_spec import Experiment, JourneySpec
from journeys.vocabulary.journey_types import JourneyRecordInput

AT = datetime(2026, 5, 1, tzinfo=UTC)


def experiment_spec(
    name: str = "offer_test", weights: tuple[float, float] = (1, 1), **promote: Any
) -> JourneySpec:
    split: dict[str, Any] = {
        "id": "split",
        "kind": "experiment",
        "variants": [
            {"name": "a", "weight": weights[0], "goto": "pause"},
            {"name": "b", "weight": weights[1], "goto": "pause"},
        ],
    }
    if promote:
        split["promote"] = promote
    return JourneySpec.model_validate(
        {
            "name": name,
            "trigger": {"event": "Checkout Started"},
            "goal": {"event": "Order Completed"},
            "steps": [split, {"id": "pause", "kind": "wait", "duration": "1d"}],
        }
    )


def record_run(
    url: str,
    run: str,
    *,
    variant: str | None,
    converted: bool = False,
    version: int = 1,
    journey: str = "offer_test",
    step: str = "split",
    visits: int = 1,
) -> None:
    """The records a JourneyWorkflow run leaves: entered, the experiment step (once per
    visit), a wait, and how it ended."""
    kinds: list[tuple[str, str | None, str]] = [("entered", None, f"v{version}")]
    if variant is not None:
        kinds += [("step", step, f"variant {variant}")] * visits
    kinds += [("step", "pause", "")]
    kinds += [("converted" if converted else "completed", None, "pause")]
    with session_scope(url) as session:
        for seq, (kind, at_step, detail) in enumerate(kinds, start=1):
            record_journey_event(
                session,
                record=JourneyRecordInput(
                    workflow_id=f"journey-{journey}-{run}-1",
                    seq=seq,
                    customer_id=run,
                    journey=journey,
                    version=version,
                    kind=kind,  # type: ignore[arg-type]
                    step=at_step,
                    detail=detail,
                    at=AT,
                ),
            )


def record_runs(url: str, variant: str, exposed: int, converted: int, **kw: Any) -> None:
    for i in range(exposed):
        record_run(url, f"{variant}-{kw.get('version', 1)}-{i}", variant=variant,
                   converted=i < converted, **kw)  # fmt: skip


def publish(url: str, spec: JourneySpec) -> int:
    with session_scope(url) as session:
        return publish_spec(session, spec=spec).version


def weights(url: str, name: str = "offer_test", version: int | None = None) -> dict[str, float]:
    with session_scope(url) as session:
        spec = get_version(session, name=name, version=version)
    assert spec is not None
    split = spec.step("split")
    assert isinstance(split, Experiment)
    return {v.name: v.weight for v in split.variants}
