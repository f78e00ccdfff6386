"""Net Promoter Score: promoters answer 9-10, passives 7-8, detractors 0-6; the score is the
percentage of promoters minus the percentage of detractors (-100..100)."""

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Nps:
    responses: int
    promoters: int
    passives: int
    detractors: int

    @property
    def score(self) -> float | None:
        if not self.responses:
            return None
        return 100.0 * (self.promoters - self.detractors) / self.responses


def category(score: int) -> str:
    if not 0 <= score <= 10:
        raise ValueError(f"an NPS answer is 0 to 10, not {score}")
    return "promoter" if score >= 9 else "passive" if score >= 7 else "detractor"


def nps(scores: Iterable[int]) -> Nps:
    counts = {"promoter": 0, "passive": 0, "detractor": 0}
    for score in scores:
        counts[category(score)] += 1
    return Nps(sum(counts.values()), counts["promoter"], counts["passive"], counts["detractor"])
