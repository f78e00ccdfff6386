"""KPI activities: the scheduled CLV fit (`fit_clv`, run by ClvFitWorkflow on the Temporal
Schedule `clv-fit`). It fits BG/NBD and Gamma-Gamma (kpis/clv.py) to the store's orders, keeps
the parameters as a new ClvModel version, and writes each buyer's predictions as traits that
segments and journeys read: p_alive, churn_risk (1 - p_alive), expected_purchases and
predicted_clv over the input's horizon, historic_clv (all their orders' totals) and
clv_version (the fit that wrote them).

Too little data (fewer than two customers with repeat purchases) or a fit that does not
converge is recorded on the version (status skipped, with the reason) and leaves the previous
fit's predictions in place: the schedule never fails for want of data.
"""

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy.exc import IntegrityError
from temporalio import activity

from journeys.kpis.clv import BgNbd, Customers, GammaGamma, fit_bgnbd, fit_gamma_gamma, summarise
from journeys.store import clv as store
from journeys.store.db import session_scope
from journeys.store.models import ClvModel
from journeys.vocabulary.activity_refs import FIT_CLV
from journeys.vocabulary.kpi_types import ClvFitInput, ClvFitResult

UNIT_DAYS = {"days": 1, "weeks": 7}
# A parameter this large (gamma: relative to the mean spend) means the likelihood kept improving
# towards a boundary (no dropout seen, no spread in spend): there is no interior optimum, and
# predictions would rest on wherever the optimiser stopped.
LARGEST_PARAMETER = 1e6


def fit_key(input: ClvFitInput, as_of: datetime) -> str:
    """What makes two fits the same: a retried activity (same input, same as_of) finds its row."""
    window = "all" if input.window_days is None else f"{input.window_days:g}d"
    return f"{as_of.astimezone(UTC).isoformat()}|{input.unit}|{input.horizon_days:g}d|{window}"


def fit_models(customers: Customers) -> tuple[BgNbd, GammaGamma] | str:
    """Both models fitted, or why they could not be (a sentence for the operator)."""
    repeat = int(((customers.x > 0) & (customers.monetary > 0)).sum())
    if repeat < 2:
        return (
            f"{repeat} customer(s) with repeat purchases among {len(customers.ids)} buyers:"
            " BG/NBD and Gamma-Gamma need at least 2"
        )
    try:
        with np.errstate(all="ignore"):
            frequency, spend = fit_bgnbd(customers), fit_gamma_gamma(customers)
    except (ValueError, ArithmeticError) as err:
        return f"the fit failed: {err}"
    values = {**frequency.params(), **spend.params()}
    broken = sorted(k for k, v in values.items() if not math.isfinite(v))
    if broken:
        return f"the fit did not converge: {', '.join(broken)} not finite"
    # gamma is in money: measured against the mean spend, so the test holds in any currency
    paying = (customers.x > 0) & (customers.monetary > 0)
    scaled = {**values, "gamma": spend.gamma / float(customers.monetary[paying].mean())}
    runaway = sorted(k for k, v in scaled.items() if k != "log_likelihood"
                     and not 0 < v < LARGEST_PARAMETER)  # fmt: skip
    if runaway:
        shown = ", ".join(f"{k}={values[k]:.3g}" for k in runaway)
        return f"the fit did not converge: {shown} ran to the edge of the parameter space"
    if spend.q <= 1:
        return f"the fit did not converge: Gamma-Gamma q={spend.q:.3g} gives no mean spend (q>1)"
    return frequency, spend


def predictions(
    customers: Customers, frequency: BgNbd, spend: GammaGamma, *, horizon: float, version: int
) -> dict[str, dict[str, Any]] | str:
    """Each customer's predicted traits, or why they are unusable (not finite)."""
    c = customers
    with np.errstate(all="ignore"):
        alive = frequency.p_alive(c.x, c.t_x, c.T)
        purchases = frequency.expected_purchases(horizon, c.x, c.t_x, c.T)
        value = purchases * spend.expected_spend(c.x, c.monetary)
    if not (np.isfinite(alive).all() and np.isfinite(purchases).all() and np.isfinite(value).all()):
        return "the fit did not converge: predictions are not finite"
    out = {}
    for i, customer_id in enumerate(c.ids):
        p_alive = round(float(np.clip(alive[i], 0.0, 1.0)), 6)
        out[customer_id] = {
            "p_alive": p_alive,
            "churn_risk": round(1.0 - p_alive, 6),
            "expected_purchases": round(max(float(purchases[i]), 0.0), 6),
            "predicted_clv": round(max(float(value[i]), 0.0), 4),
            "clv_version": version,
        }
    return out


def _models(row: ClvModel) -> tuple[BgNbd, GammaGamma]:
    """The stored fit, so a retry predicts from exactly the parameters the first attempt did."""
    frequency, spend = row.parameters["bg_nbd"], row.parameters["gamma_gamma"]
    return (
        BgNbd(**{k: frequency[k] for k in ("r", "alpha", "a", "b", "log_likelihood")}),
        GammaGamma(**{k: spend[k] for k in ("p", "q", "gamma", "log_likelihood")}),
    )


class KpiActivities:
    def __init__(self, database_url: str) -> None:
        self.database_url = database_url

    @activity.defn(name=FIT_CLV.name)
    def fit_clv(self, input: ClvFitInput) -> ClvFitResult:
        """Fit, record the version, write the traits in batches (heartbeating the progress).
        Idempotent: a retry with the same input finds the version its first attempt stored,
        predicts from those parameters and writes the same values, resuming after the last
        batch its heartbeat recorded."""
        as_of = input.as_of or datetime.now(UTC)
        since = as_of - timedelta(days=input.window_days) if input.window_days else None
        key = fit_key(input, as_of)
        _beat({"phase": "reading"})
        with session_scope(self.database_url) as session:
            orders = store.transactions(session, as_of=as_of, since=since)
            totals = store.order_totals(session, as_of=as_of)
            row = store.find_fit(session, fit_key=key)
        customers = summarise(orders, as_of.astimezone(UTC).date(), UNIT_DAYS[input.unit])
        if row is None:
            _beat({"phase": "fitting", "customers": len(customers.ids)})
            row = self._record(key, input, as_of, customers, fit_models(customers))
        horizon = input.horizon_days / UNIT_DAYS[input.unit]
        values: dict[str, dict[str, Any]] = {
            customer_id: {"historic_clv": round(total, 4)} for customer_id, total in totals.items()
        }
        predicted: dict[str, dict[str, Any]] | str = row.reason
        if row.status == "fitted":
            predicted = predictions(customers, *_models(row), horizon=horizon, version=row.version)
            if isinstance(predicted, str):
                row = self._skip(row.version, predicted)
            else:
                for customer_id, traits in predicted.items():
                    values.setdefault(customer_id, {}).update(traits)
        written = self._write(values, row.version, input.batch_size)
        cleared = 0
        if row.status == "fitted":
            with session_scope(self.database_url) as session:
                cleared = store.clear_stale_predictions(
                    session, version=row.version, at=datetime.now(UTC)
                )
                store.set_traits_written(session, version=row.version, count=len(customers.ids))
        result = ClvFitResult(
            version=row.version,
            status="fitted" if row.status == "fitted" else "skipped",
            reason=row.reason,
            customers=len(customers.ids),
            repeat_customers=int((customers.x > 0).sum()),
            traits_written=len(customers.ids) if row.status == "fitted" else 0,
            traits_cleared=cleared,
            bg_nbd=row.parameters.get("bg_nbd", {}),
            gamma_gamma=row.parameters.get("gamma_gamma", {}),
        )
        if activity.in_activity():
            activity.logger.info(
                "clv fitted" if result.status == "fitted" else "clv fit skipped",
                extra={**result.model_dump(exclude={"bg_nbd", "gamma_gamma"}),
                       "profiles_changed": written},
            )  # fmt: skip
        return result

    def _record(
        self,
        key: str,
        input: ClvFitInput,
        as_of: datetime,
        customers: Customers,
        outcome: tuple[BgNbd, GammaGamma] | str,
    ) -> ClvModel:
        # no version yet: save_fit numbers the row (the next one) when it stores it
        row = ClvModel(  # type: ignore[call-arg]
            fit_key=key, fitted_at=datetime.now(UTC), calibration_end=as_of, unit=input.unit,
            horizon_days=input.horizon_days, window_days=input.window_days,
            customers=len(customers.ids), repeat_customers=int((customers.x > 0).sum()),
        )  # fmt: skip
        if isinstance(outcome, str):
            row.status, row.reason = "skipped", outcome
        else:
            frequency, spend = outcome
            row.parameters = {"bg_nbd": frequency.params(), "gamma_gamma": spend.params()}
            row.bg_nbd_log_likelihood = frequency.log_likelihood
            row.gamma_gamma_log_likelihood = spend.log_likelihood
        try:
            with session_scope(self.database_url) as session:
                return store.save_fit(session, fit=row)
        except IntegrityError:
            # an earlier attempt of this very fit stored it meanwhile: use that one
            with session_scope(self.database_url) as session:
                found = store.find_fit(session, fit_key=key)
            if found is None:
                raise  # another fit took the version number: Temporal retries
            return found

    def _skip(self, version: int, reason: str) -> ClvModel:
        with session_scope(self.database_url) as session:
            return store.skip_fit(session, version=version, reason=reason)

    def _write(self, values: dict[str, dict[str, Any]], version: int, batch: int) -> int:
        """Write the traits a batch at a time, one short transaction each (SQLite's one writer
        is held briefly); heartbeat after each, resuming after the last one recorded."""
        ids = sorted(values)
        done = 0
        if activity.in_activity() and (details := activity.info().heartbeat_details):
            last = details[-1]
            if isinstance(last, dict) and last.get("version") == version:
                done = int(last.get("done", 0))
        changed = 0
        for start in range(done, len(ids), batch):
            chunk = ids[start : start + batch]
            with session_scope(self.database_url) as session:
                changed += store.write_traits(
                    session, values={c: values[c] for c in chunk}, at=datetime.now(UTC)
                )
            _beat({"phase": "writing", "version": version, "done": start + len(chunk),
                   "total": len(ids)})  # fmt: skip
        return changed


def _beat(details: dict[str, Any]) -> None:
    if activity.in_activity():
        activity.heartbeat(details)
