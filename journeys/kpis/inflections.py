"""Inflection points: the touchpoints (events, journey steps, messages) after which a goal
becomes markedly more or less likely, controlled for lifecycle stage.

The design is a landmark per stage entry: a customer entering stage S at t0 is followed for
`window` (30 days) or until the period ends; exposed if the touchpoint happened while in S,
before the goal; the outcome is the goal within the window. Each stage is a stratum, and the
strata are pooled by Mantel-Haenszel (statsmodels' StratifiedTable): an odds ratio with its 95%
confidence interval and the test of no association, and the pooled risk ratio as the lift. It is
association, not cause: customers choose their touchpoints; an experiment step gives the causal
answer.
"""

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

MIN_EXPOSED = 10  # customers behind a figure, fewer and it is not shown


@dataclass(frozen=True)
class Landmark:
    """One stage entry and what followed it within the window."""

    stage: str
    reached_goal: bool
    touchpoints: frozenset[str]  # before the goal, while in the stage


@dataclass(frozen=True)
class Inflection:
    touchpoint: str
    exposed: int  # landmarks with the touchpoint
    rate_exposed: float  # goal rate among them
    rate_unexposed: float
    lift: float  # Mantel-Haenszel risk ratio over the stages
    odds_ratio: float
    low: float  # its 95% confidence interval
    high: float
    p_value: float
    strata: int  # stages that had both exposed and unexposed customers


def inflections(
    landmarks: Iterable[Landmark], *, min_exposed: int = MIN_EXPOSED
) -> list[Inflection]:
    """Every touchpoint with enough customers behind it, strongest association first (those
    whose interval excludes 1 before the others)."""
    from statsmodels.stats.contingency_tables import StratifiedTable

    rows = list(landmarks)
    stages = sorted({r.stage for r in rows})
    found = []
    for touchpoint in sorted({t for r in rows for t in r.touchpoints}):
        tables, exposed, hits, misses_total, misses_hit = [], 0, 0, 0, 0
        for stage in stages:
            table = np.zeros((2, 2))
            for r in rows:
                if r.stage == stage:
                    table[0 if touchpoint in r.touchpoints else 1, 0 if r.reached_goal else 1] += 1
            exposed += int(table[0].sum())
            hits += int(table[0, 0])
            misses_total += int(table[1].sum())
            misses_hit += int(table[1, 0])
            if table[0].sum() and table[1].sum():
                tables.append(table + 0.5 if (table == 0).any() else table)  # Haldane's 0.5
        if exposed < min_exposed or not tables:
            continue
        pooled = StratifiedTable(tables)
        low, high = pooled.oddsratio_pooled_confint()
        found.append(Inflection(
            touchpoint=touchpoint, exposed=exposed,
            rate_exposed=round(hits / exposed, 4),
            rate_unexposed=round(misses_hit / misses_total, 4) if misses_total else 0.0,
            lift=round(float(pooled.riskratio_pooled), 3),
            odds_ratio=round(float(pooled.oddsratio_pooled), 3),
            low=round(float(low), 3), high=round(float(high), 3),
            p_value=float(pooled.test_null_odds().pvalue), strata=len(tables),
        ))  # fmt: skip
    return sorted(found, key=lambda f: (not (f.low > 1 or f.high < 1),
                                        -abs(np.log(f.odds_ratio)), f.touchpoint))  # fmt: skip
