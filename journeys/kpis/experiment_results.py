"""An experiment step's results across the journey versions its runs entered, and whether a
winner is ready to be promoted.

Exposures and conversions add up across versions. The split they should show (for the sample
ratio mismatch check) does not: each version's runs are expected in that version's weights,
so a 50/50 version followed by a 90/10 one expects the mix of both, in proportion to the runs
each had.
"""

from dataclasses import dataclass
from typing import Any

from journeys.kpis.experiments import Analysis, Arm, always_valid_p_value, analyse
from journeys.vocabulary.journey_spec import Promote


@dataclass(frozen=True)
class VariantCount:
    exposures: int = 0
    conversions: int = 0


@dataclass(frozen=True)
class ExperimentExposures:
    """One experiment step in one version: its weights (spec order) and what its runs did."""

    step: str
    version: int
    weights: dict[str, float]
    counts: dict[str, VariantCount]  # every variant of the version, 0 where nobody came


@dataclass(frozen=True)
class ExperimentResult:
    step: str
    versions: list[int]  # the versions counted, oldest first
    weights: dict[str, float]  # the newest counted version's split
    analysis: Analysis

    @property
    def best(self) -> str | None:
        """The variant most likely to be best, once any run was exposed."""
        if not any(arm.exposures for arm in self.analysis.arms):
            return None
        return max(self.analysis.arms, key=lambda arm: arm.probability_best).name

    def as_dict(self) -> dict[str, Any]:
        analysis = self.analysis
        return {
            "step": self.step,
            "versions": self.versions,
            "variants": [
                {
                    "name": arm.name,
                    "weight": self.weights.get(arm.name, 0.0),
                    "exposures": arm.exposures,
                    "conversions": arm.conversions,
                    "rate": arm.rate,
                    "low": arm.low,
                    "high": arm.high,
                    "probability_best": arm.probability_best,
                }
                for arm in analysis.arms
            ],
            "best": self.best,
            "p_value": analysis.p_value,
            "always_valid_p_value": analysis.always_valid_p_value,
            "srm_p_value": analysis.srm_p_value,
            "sample_ratio_mismatch": analysis.sample_ratio_mismatch,
        }


def experiment_results(exposures: list[ExperimentExposures]) -> list[ExperimentResult]:
    """One result per experiment step, in the order the steps first appear."""
    steps: dict[str, list[ExperimentExposures]] = {}
    for entry in exposures:
        steps.setdefault(entry.step, []).append(entry)
    return [_combine(step, sorted(entries, key=lambda e: e.version))
            for step, entries in steps.items()]  # fmt: skip


def _combine(step: str, entries: list[ExperimentExposures]) -> ExperimentResult:
    latest = entries[-1]
    names = list(latest.weights)
    for entry in reversed(entries):  # variants dropped by later versions still count
        names += [name for name in entry.counts if name not in names]
    exposures = dict.fromkeys(names, 0)
    conversions = dict.fromkeys(names, 0)
    expected = dict.fromkeys(names, 0.0)
    for entry in entries:
        runs = sum(count.exposures for count in entry.counts.values())
        total_weight = sum(entry.weights.values())
        for name, count in entry.counts.items():
            exposures[name] += count.exposures
            conversions[name] += count.conversions
        for name, weight in entry.weights.items():
            expected[name] += runs * weight / total_weight if total_weight else 0.0
    if not any(exposures.values()):  # no runs yet: the split planned now
        expected = {name: latest.weights.get(name, 0.0) for name in names}
    arms = [Arm(name, exposures[name], conversions[name], expected[name]) for name in names]
    return ExperimentResult(
        step=step,
        versions=[entry.version for entry in entries],
        weights=dict(latest.weights),
        analysis=analyse(arms),
    )


def winner_to_promote(result: ExperimentResult, promote: Promote) -> str | None:
    """The variant to give all the traffic: the most likely best, once it converts better than
    every other variant still in the split at the confidence `probability` by the always-valid
    test (the schedule looks every hour: a fixed-level test read that often would find
    winners in most A/A tests), every one of them has `min_exposures` runs, and the split
    shows no sample ratio mismatch. None while the evidence is short, or when only one
    variant has traffic left (already decided)."""
    live = [name for name, weight in result.weights.items() if weight > 0]
    analysis = result.analysis
    if len(live) < 2 or analysis.sample_ratio_mismatch:
        return None
    arms = {arm.name: arm for arm in analysis.arms}
    if any(arms[name].exposures < promote.min_exposures for name in live):
        return None
    best = max(analysis.arms, key=lambda arm: arm.probability_best)
    if best.name not in live:
        return None
    rivals = [arms[name] for name in live if name != best.name]
    if any(rival.rate >= best.rate for rival in rivals):
        return None
    if always_valid_p_value(best, rivals) > 1 - promote.probability:
        return None
    return best.name
