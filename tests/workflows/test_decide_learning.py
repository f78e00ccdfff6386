"""Next best action learns: starting from an unlucky history (the better offer failed its
first five tries, the worse one converted 3 of 10), a greedy pick of the best rate so far locks
onto the worse offer for good, while the `decide` step's Thompson sampling finds the better
one within 1,000 decisions. Outcomes arrive 20 decisions late, as runs end, and count only
then (store.decisions.decision_stats): a run in flight is not a failure."""

import random
from collections.abc import Callable

from journeys.vocabulary.journey_spec import Action
from journeys.vocabulary.journey_types import ActionStats
from journeys.workflows.steps.decide import thompson_choice

ACTIONS = [
    Action(name="ten_off", goto="a", value=10),
    Action(name="free_shipping", goto="b", value=10),
]
TRUE_RATES = {"ten_off": 0.10, "free_shipping": 0.20}
UNLUCKY_START = {"ten_off": ActionStats(exposures=10, conversions=3),
                 "free_shipping": ActionStats(exposures=5, conversions=0)}  # fmt: skip
DECISIONS, IN_FLIGHT, WINDOW = 2_000, 20, 100
FOUND_WITHIN = 1_000  # the stated number: Thompson sends 80% of a window to the better offer
SIMULATIONS = 100

Chooser = Callable[[dict[str, ActionStats], random.Random], str]


def thompson(stats: dict[str, ActionStats], rng: random.Random) -> str:
    chosen, _, _ = thompson_choice(ACTIONS, stats, 0.0, rng)
    assert chosen is not None
    return chosen.name


def greedy(stats: dict[str, ActionStats], rng: random.Random) -> str:
    return max(ACTIONS, key=lambda a: stats[a.name].conversions / stats[a.name].exposures).name


def simulate(choose: Chooser, seed: int) -> list[str]:
    rng, world = random.Random(seed), random.Random(seed + 1_000_003)
    stats = dict(UNLUCKY_START)
    in_flight: list[tuple[int, str, bool]] = []
    chosen = []
    for decision in range(DECISIONS):
        while in_flight and in_flight[0][0] <= decision:  # runs that ended by now
            _, name, won = in_flight.pop(0)
            seen = stats[name]
            stats[name] = ActionStats(exposures=seen.exposures + 1,
                                      conversions=seen.conversions + won)  # fmt: skip
        name = choose(stats, rng)
        chosen.append(name)
        in_flight.append((decision + IN_FLIGHT, name, world.random() < TRUE_RATES[name]))
    return chosen


def found_at(chosen: list[str]) -> int | None:
    """The decision by which a window first gave the better offer 80% of its decisions."""
    for end in range(WINDOW, len(chosen) + 1, 10):
        if chosen[end - WINDOW : end].count("free_shipping") >= 0.8 * WINDOW:
            return end
    return None


def test_greedy_locks_onto_the_worse_offer() -> None:
    for seed in range(SIMULATIONS):
        chosen = simulate(greedy, seed)
        assert chosen[-WINDOW:].count("free_shipping") == 0, seed  # 0 / 5 is never retried


def test_thompson_sampling_finds_the_better_offer_within_the_stated_decisions() -> None:
    runs = [simulate(thompson, seed) for seed in range(SIMULATIONS)]
    found = [found_at(chosen) for chosen in runs]
    in_time = [at for at in found if at is not None and at <= FOUND_WITHIN]
    assert len(in_time) >= 0.95 * SIMULATIONS, sorted(at or 0 for at in found)
    stayed = [chosen[-WINDOW:].count("free_shipping") >= 0.8 * WINDOW for chosen in runs]
    assert sum(stayed) >= 0.95 * SIMULATIONS  # and stays with it
