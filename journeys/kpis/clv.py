"""Predictive customer lifetime value: BG/NBD for purchase frequency and P(alive) (Fader,
Hardie & Lee 2005, "Counting your customers the easy way") and Gamma-Gamma for spend (Fader &
Hardie 2013, "The Gamma-Gamma model of monetary value"), fitted by maximum likelihood.

Parameters keep the literature's names: r, alpha, a, b (BG/NBD); p, q, gamma (Gamma-Gamma).
Time is in a unit of the caller's choice (days or weeks): x is the number of repeat purchase
days, t_x the time of the last one and T the time from the first purchase to the end of the
calibration period, both measured from the first purchase.
"""

import functools
import importlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]


# scipy.optimize and scipy.special, imported on first use: half a second at the start of every
# `journeys` command otherwise (this module is imported by the report and CLV commands). Once:
# an import statement inside the wrappers, run a million times by a fit, cost a minute per fit.
@functools.cache
def _scipy(name: str) -> Any:
    return importlib.import_module(f"scipy.{name}")


def minimize(*args: Any, **kwargs: Any) -> Any:
    return _scipy("optimize").minimize(*args, **kwargs)


def gammaln(x: Any) -> Any:
    return _scipy("special").gammaln(x)


def hyp2f1(a: Any, b: Any, c: Any, z: Any) -> Any:
    return _scipy("special").hyp2f1(a, b, c, z)


@dataclass(frozen=True)
class Customers:
    """Each customer's summary over the calibration period (only customers who bought)."""

    ids: list[str]
    x: Array  # repeat purchase days
    t_x: Array  # time of the last purchase, from the first
    T: Array  # noqa: N815  (the literature's name) time from the first purchase to the end
    monetary: Array  # mean value of the repeat purchases (0 where x == 0)


def summarise(
    transactions: Iterable[tuple[str, date, float]], calibration_end: date, unit_days: int = 7
) -> Customers:
    """Purchases on one day count as one (their amounts add up); purchases after
    `calibration_end` are left out, as are customers whose first purchase is after it."""
    days: dict[str, dict[date, float]] = defaultdict(lambda: defaultdict(float))
    for customer, day, amount in transactions:
        if day <= calibration_end:
            days[customer][day] += amount
    ids = sorted(days)
    x, t_x, T, monetary = [], [], [], []
    for customer in ids:
        spend = days[customer]
        ordered = sorted(spend)
        first, last = ordered[0], ordered[-1]
        repeats = [spend[d] for d in ordered[1:]]
        x.append(len(repeats))
        t_x.append((last - first).days / unit_days)
        T.append((calibration_end - first).days / unit_days)
        monetary.append(sum(repeats) / len(repeats) if repeats else 0.0)
    return Customers(ids, *(np.asarray(v, dtype=float) for v in (x, t_x, T, monetary)))


@dataclass(frozen=True)
class BgNbd:
    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float

    def params(self) -> dict[str, float]:
        return asdict(self)

    def p_alive(self, x: Array, t_x: Array, T: Array) -> Array:  # noqa: N803
        """The probability that each customer has not dropped out by the end of calibration."""
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        odds = (a / (b + np.maximum(x, 1) - 1)) * ((alpha + T) / (alpha + t_x)) ** (r + x)
        return np.where(x > 0, 1.0 / (1.0 + odds), 1.0)

    def expected_purchases(self, t: float, x: Array, t_x: Array, T: Array) -> Array:  # noqa: N803
        """E[purchases in the next `t` units | x, t_x, T] (the paper's equation 10)."""
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        z = t / (alpha + T + t)
        head = (a + b + x - 1) / (a - 1)
        body = 1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp2f1(
            r + x, b + x, a + b + x - 1, z
        )
        odds = (a / (b + np.maximum(x, 1) - 1)) * ((alpha + T) / (alpha + t_x)) ** (r + x)
        return head * body / (1 + np.where(x > 0, odds, 0.0))


def bgnbd_log_likelihood(params: Array, x: Array, t_x: Array, T: Array) -> float:  # noqa: N803
    r, alpha, a, b = params
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x)
    a3 = -(r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore"):
        a4 = np.where(
            x > 0,
            np.log(a) - np.log(b + np.maximum(x, 1) - 1) - (r + x) * np.log(alpha + t_x),
            -np.inf,
        )
    return float(np.sum(a1 + a2 + np.logaddexp(a3, a4)))


def fit_bgnbd(customers: Customers) -> BgNbd:
    c = customers
    if len(c.ids) < 2:
        raise ValueError("BG/NBD needs the purchases of at least two customers")
    result = _maximise(lambda p: bgnbd_log_likelihood(p, c.x, c.t_x, c.T), [1.0, 1.0, 1.0, 1.0])
    r, alpha, a, b = np.exp(result.x)
    return BgNbd(float(r), float(alpha), float(a), float(b), float(-result.fun))


@dataclass(frozen=True)
class GammaGamma:
    p: float
    q: float
    gamma: float
    log_likelihood: float

    def params(self) -> dict[str, float]:
        return asdict(self)

    def expected_spend(self, x: Array, monetary: Array) -> Array:
        """E[M | x, mean spend]: shrinks a customer's own mean towards the population's."""
        p, q, gamma = self.p, self.q, self.gamma
        population = p * gamma / (q - 1)
        own = (gamma + monetary * x) * p / (p * x + q - 1)
        return np.where(x > 0, own, population)


def gamma_gamma_log_likelihood(params: Array, x: Array, m: Array) -> float:
    p, q, gamma = params
    return float(
        np.sum(
            gammaln(p * x + q) - gammaln(p * x) - gammaln(q) + q * np.log(gamma)
            + (p * x - 1) * np.log(m) + p * x * np.log(x) - (p * x + q) * np.log(x * m + gamma)
        )
    )  # fmt: skip


def fit_gamma_gamma(customers: Customers) -> GammaGamma:
    """Fitted on customers with at least one repeat purchase of positive value."""
    keep = (customers.x > 0) & (customers.monetary > 0)
    x, m = customers.x[keep], customers.monetary[keep]
    if len(x) < 2:
        raise ValueError("Gamma-Gamma needs at least two customers with repeat purchases")
    # a second start in the currency's scale (population mean spend = mean(m)): from [1, 1, 1]
    # alone, Nelder-Mead can wander up a ridge (p to infinity) on large amounts
    scaled = [5.0, 3.0, float(np.mean(m)) * 2.0 / 5.0]
    result = _maximise(lambda p: gamma_gamma_log_likelihood(p, x, m), [1.0, 1.0, 1.0], scaled)
    p, q, gamma = np.exp(result.x)
    return GammaGamma(float(p), float(q), float(gamma), float(-result.fun))


# Parameters stay within e^-25..e^25 (1e-11..7e10): further out the log-likelihood loses all
# precision (a sum of terms of 1e300 that cancel) and can come out as a huge finite number the
# optimiser would chase. A fit that ends near the bound has no interior optimum.
LOG_BOUND = 25.0
# Nelder-Mead's iterations from one start. A start that converges takes 150-300 on CDNOW; one
# that walks up a ridge instead (Gamma-Gamma from [1, 1, 1] at some dates) ran all of the
# former 5,000 (25,000 evaluations, a second a fit) to a worse optimum than the other start.
# L-BFGS-B polishes from wherever it stopped either way.
NELDER_MEAD_ITERATIONS = 1000


def _maximise(log_likelihood, *starts: list[float]):  # type: ignore[no-untyped-def]
    """Maximise over log-parameters (keeps every parameter positive) from each start: Nelder-
    Mead to near the optimum, then L-BFGS-B within the bounds to polish it (Nelder-Mead alone
    took some 100,000 evaluations, a minute, to the same digits); the best result wins."""

    def objective(log_params: Array) -> float:
        if np.any(np.abs(log_params) > LOG_BOUND):
            return 1e300
        with np.errstate(all="ignore"):
            value = log_likelihood(np.exp(log_params))
        return -value if np.isfinite(value) else 1e300

    results = []
    for start in starts:
        first = minimize(objective, np.log(start), method="Nelder-Mead",
                         options={"maxiter": NELDER_MEAD_ITERATIONS, "xatol": 1e-6,
                                  "fatol": 1e-8})  # fmt: skip
        polished = minimize(objective, first.x, method="L-BFGS-B",
                            bounds=[(-LOG_BOUND, LOG_BOUND)] * len(start),
                            options={"ftol": 1e-15, "gtol": 1e-10, "maxiter": 5000})  # fmt: skip
        results += [first, polished]
    return min(results, key=lambda result: result.fun)
