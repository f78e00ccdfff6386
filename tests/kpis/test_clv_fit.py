"""The scheduled CLV fit: the `fit_clv` activity on a store (the real CDNOW sample, and orders
drawn from known BG/NBD and Gamma-Gamma processes), ClvFitWorkflow on the time-skipping server,
and the `clv-fit` schedule on the dev server."""

import asyncio
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlmodel import col, select
from temporalio.client import ScheduleIntervalSpec
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment
from temporalio.worker import Worker

from journeys.activities.kpis import KpiActivities
from journeys.cli.schedules import CLV_FIT_SCHEDULE, ensure_clv_schedule
from journeys.config.settings import Settings
from journeys.kpis.clv import fit_bgnbd, fit_gamma_gamma, summarise
from journeys.store.customers import upsert_traits
from journeys.store.db import session_scope
from journeys.store.models import ClvModel, Customer
from journeys.vocabulary.kpi_types import ClvFitInput, ClvFitResult
from journeys.workflows.clv_fit import ClvFitWorkflow
from tests.helpers.bgnbd import TRUTH, insert_orders, simulate

CDNOW_END = datetime.combine(date(1997, 9, 30), time(23, 59, 59), tzinfo=UTC)
END = datetime(2026, 1, 1, tzinfo=UTC)


def traits(url: str) -> dict[str, dict[str, object]]:
    with session_scope(url) as session:
        return {c.customer_id: dict(c.traits) for c in session.exec(select(Customer))}


def versions(url: str) -> list[ClvModel]:
    with session_scope(url) as session:
        return list(session.exec(select(ClvModel).order_by(col(ClvModel.version))))


@pytest.mark.slow
def test_the_fit_on_the_store_reproduces_cdnow_writes_traits_and_retries_alike(
    database_url: str,
    cdnow: list[tuple[str, date, float]],
) -> None:
    rows = [(c, datetime.combine(d, time(12), tzinfo=UTC), a) for c, d, a in cdnow]
    known = cdnow[0][0]  # a customer with a profile already
    with session_scope(database_url) as session:
        insert_orders(session, rows)
        upsert_traits(session, customer_id=known, traits={"email": "a@example.com"})
    activities = KpiActivities(database_url)
    fit = ClvFitInput(as_of=CDNOW_END, unit="weeks", horizon_days=91, batch_size=400)
    result = activities.fit_clv(fit)

    # the published values (Fader, Hardie & Lee 2005; Fader & Hardie 2013)
    assert (result.status, result.version, result.customers) == ("fitted", 1, 2357)
    assert result.repeat_customers == 946 and result.traits_written == 2357
    bg, gg = result.bg_nbd, result.gamma_gamma
    assert (bg["r"], bg["alpha"], bg["a"], bg["b"]) == pytest.approx(
        (0.243, 4.414, 0.793, 2.426), abs=0.002
    )
    assert bg["log_likelihood"] == pytest.approx(-9582.4, abs=0.1)
    assert (gg["p"], gg["q"], gg["gamma"]) == pytest.approx((6.25, 3.74, 15.44), abs=0.01)
    [row] = versions(database_url)
    assert row.status == "fitted" and row.unit == "weeks" and row.horizon_days == 91
    assert row.calibration_end == CDNOW_END and row.customers == 2357
    assert row.parameters["bg_nbd"] == bg and row.bg_nbd_log_likelihood == bg["log_likelihood"]

    # each buyer's traits are the models' predictions over 13 weeks
    customers = summarise(cdnow, CDNOW_END.date(), unit_days=7)
    frequency, spend = fit_bgnbd(customers), fit_gamma_gamma(customers)
    alive = frequency.p_alive(customers.x, customers.t_x, customers.T)
    purchases = frequency.expected_purchases(13, customers.x, customers.t_x, customers.T)
    value = purchases * spend.expected_spend(customers.x, customers.monetary)
    written = traits(database_url)
    assert len(written) == 2357
    for i in (0, 1, 17, 500, 2356):
        got = written[customers.ids[i]]
        assert got["p_alive"] == pytest.approx(alive[i], abs=1e-4)
        assert got["churn_risk"] == pytest.approx(1 - got["p_alive"], abs=1e-9)  # type: ignore[operator]
        assert got["expected_purchases"] == pytest.approx(purchases[i], abs=1e-4)
        assert got["predicted_clv"] == pytest.approx(value[i], rel=1e-3, abs=1e-3)
        assert got["clv_version"] == 1
    # historic CLV: all their orders to the calibration end (later ones are the hold-out)
    spent = sum(a for c, d, a in cdnow if c == known and d <= CDNOW_END.date())
    assert written[known]["historic_clv"] == pytest.approx(spent)
    assert written[known]["email"] == "a@example.com"  # other traits stay
    one_timers = [written[c] for c, x in zip(customers.ids, customers.x, strict=True) if x == 0]
    assert {t["p_alive"] for t in one_timers} == {1.0}  # the model cannot tell them gone
    assert any(t["p_alive"] < 0.3 for t in written.values())  # type: ignore[operator]

    # a retry (same input, same as_of) finds its version and writes the same values
    again = activities.fit_clv(fit)
    assert again == result
    assert traits(database_url) == written and len(versions(database_url)) == 1
    # the next scheduled fit is a new version
    later = activities.fit_clv(fit.model_copy(update={"as_of": CDNOW_END + timedelta(days=1)}))
    assert later.version == 2 and {t["clv_version"] for t in traits(database_url).values()} == {2}


def test_a_retry_resumes_after_the_last_batch_its_heartbeat_recorded(sqlite_url: str) -> None:
    with session_scope(sqlite_url) as session:
        insert_orders(session, simulate(customers=300, end=END))
    activities = KpiActivities(sqlite_url)
    fit = ClvFitInput(as_of=END, batch_size=50)
    beats: list[dict[str, object]] = []
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: beats.append(details[0])
    first = env.run(activities.fit_clv, fit)
    writes = [b for b in beats if b["phase"] == "writing"]
    assert writes[-1] == {"phase": "writing", "version": 1, "done": 300, "total": 300}
    assert len(writes) == 6
    # a worker died after the fourth batch: the retry starts with the fifth
    with session_scope(sqlite_url) as session:
        upsert_traits(session, customer_id="g00000", traits={"p_alive": "tampered"})
        upsert_traits(session, customer_id="g00299", traits={"p_alive": "tampered"})
    retry = ActivityEnvironment()
    retry.info = replace(retry.info, heartbeat_details=[writes[3]], attempt=2)
    assert retry.run(activities.fit_clv, fit) == first
    after = traits(sqlite_url)
    assert after["g00000"]["p_alive"] == "tampered"  # in a batch written before the crash
    assert after["g00299"]["p_alive"] != "tampered"  # in a batch after it


@pytest.mark.slow
def test_parameters_of_a_known_process_are_recovered(sqlite_url: str) -> None:
    with session_scope(sqlite_url) as session:
        insert_orders(session, simulate(customers=1000, end=END, seed=3))
    result = KpiActivities(sqlite_url).fit_clv(ClvFitInput(as_of=END))
    assert result.status == "fitted"
    fitted = {**result.bg_nbd, **result.gamma_gamma}
    for name in ("r", "alpha", "a", "q"):
        assert fitted[name] == pytest.approx(TRUTH[name], rel=0.35), (name, fitted)
    population = fitted["p"] * fitted["gamma"] / (fitted["q"] - 1)
    assert population == pytest.approx(TRUTH["p"] * TRUTH["gamma"] / (TRUTH["q"] - 1), rel=0.2)


@pytest.mark.slow
def test_too_little_data_is_recorded_and_keeps_the_last_predictions(sqlite_url: str) -> None:
    activities = KpiActivities(sqlite_url)
    day = lambda n: END - timedelta(days=n)  # noqa: E731
    with session_scope(sqlite_url) as session:
        insert_orders(session, [("a", day(60), 10.0), ("a", day(30), 12.0), ("b", day(50), 8.0)])
    result = activities.fit_clv(ClvFitInput(as_of=END))
    assert (result.status, result.version, result.traits_written) == ("skipped", 1, 0)
    assert "1 customer(s) with repeat purchases" in result.reason
    assert "at least 2" in result.reason
    [row] = versions(sqlite_url)
    assert row.status == "skipped" and row.reason == result.reason and row.parameters == {}
    # historic CLV needs no model; predictions are not made
    assert traits(sqlite_url) == {"a": {"historic_clv": 22.0}, "b": {"historic_clv": 8.0}}

    # a fit that cannot converge (everyone buys weekly for the same amount: no dropout, no
    # spread in spend) is recorded too, and the last good predictions stay
    with session_scope(sqlite_url) as session:
        upsert_traits(session, customer_id="a", traits={"p_alive": 0.5, "clv_version": 0})
        insert_orders(session, [(f"w{c}", day(7 * k + c % 3), 10.0)
                                for c in range(40) for k in range(1, 9)])  # fmt: skip
    stuck = activities.fit_clv(ClvFitInput(as_of=END + timedelta(minutes=1)))  # the next run
    assert (stuck.status, stuck.version) == ("skipped", 2)
    assert stuck.reason.startswith("the fit did not converge"), stuck.reason
    assert traits(sqlite_url)["a"]["p_alive"] == 0.5
    assert "p_alive" not in traits(sqlite_url)["w0"]


def test_a_windowed_fit_clears_predictions_of_customers_it_no_longer_sees(
    sqlite_url: str,
) -> None:
    with session_scope(sqlite_url) as session:
        insert_orders(session, simulate(customers=400, end=END, seed=5))
    activities = KpiActivities(sqlite_url)
    everyone = activities.fit_clv(ClvFitInput(as_of=END))
    windowed = activities.fit_clv(ClvFitInput(as_of=END, window_days=180))
    assert everyone.status == windowed.status == "fitted"
    assert windowed.customers < everyone.customers
    assert windowed.traits_cleared == everyone.customers - windowed.customers
    after = traits(sqlite_url)
    cleared = [t for t in after.values() if "clv_version" not in t]
    assert len(cleared) == windowed.traits_cleared
    assert all(set(t) == {"historic_clv"} for t in cleared)
    assert {t.get("clv_version") for t in after.values()} == {None, windowed.version}


async def test_the_workflow_runs_the_fit_on_the_time_skipping_server(
    skipping_env: WorkflowEnvironment, sqlite_url: str, task_queue: str
) -> None:
    with session_scope(sqlite_url) as session:
        insert_orders(session, simulate(customers=300, end=datetime.now(UTC)))
    activities = KpiActivities(sqlite_url)
    with ThreadPoolExecutor(2) as executor:
        async with Worker(
            skipping_env.client,
            task_queue=task_queue,
            workflows=[ClvFitWorkflow],
            activities=[activities.fit_clv],
            activity_executor=executor,
        ):
            result = await skipping_env.client.execute_workflow(
                ClvFitWorkflow.run,
                ClvFitInput(unit="days", horizon_days=30),
                id=f"clv-fit-{task_queue}",
                task_queue=task_queue,
                result_type=ClvFitResult,
            )
    assert (result.status, result.version, result.customers) == ("fitted", 1, 300)
    [row] = versions(sqlite_url)
    assert row.unit == "days" and row.horizon_days == 30
    assert row.calibration_end <= datetime.now(UTC)  # the workflow's start time
    written = traits(sqlite_url)
    assert len(written) == 300
    assert all(0 <= t["p_alive"] <= 1 for t in written.values())  # type: ignore[operator]
    assert np.mean([t["churn_risk"] for t in written.values()]) > 0  # type: ignore[misc]


async def test_the_schedule_is_created_then_updated_and_the_cli_makes_it(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    client = dev_env.client
    handle = client.get_schedule_handle(CLV_FIT_SCHEDULE)
    try:
        await handle.delete()
    except Exception:  # noqa: BLE001  (none yet)
        pass
    settings = Settings(task_queue=task_queue)
    assert settings.clv_fit_interval == timedelta(hours=24)
    try:
        assert await ensure_clv_schedule(client, settings) == "created"
        await handle.pause(note="maintenance")
        weekly = settings.model_copy(update={"clv_fit_interval": timedelta(days=7)})
        assert await ensure_clv_schedule(client, weekly, ClvFitInput(unit="days")) == "updated"
        described = await handle.describe()
        assert described.schedule.spec.intervals == [ScheduleIntervalSpec(every=timedelta(days=7))]
        assert described.schedule.state.paused
        action = described.schedule.action
        assert action.workflow == "ClvFitWorkflow"  # type: ignore[union-attr]
        assert action.task_queue == task_queue  # type: ignore[union-attr]

        # `journeys clv schedule` with the interval from the environment
        address = client.service_client.config.target_host
        cli = Path(sys.executable).with_name("journeys")
        process = await asyncio.create_subprocess_exec(
            str(cli), "clv", "schedule", "--address", address, "--horizon-days", "30",
            env={"JOURNEYS_CLV_FIT_INTERVAL": "12h", "JOURNEYS_TASK_QUEUE": task_queue,
                 "PATH": ""},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await process.communicate()
        assert process.returncode == 0, err.decode()
        assert "schedule clv-fit updated: every 12:00:00" in out.decode()
        described = await handle.describe()
        twice_a_day = ScheduleIntervalSpec(every=timedelta(hours=12))
        assert described.schedule.spec.intervals == [twice_a_day]
        assert described.schedule.state.paused  # the operator's pause survives
    finally:
        await handle.delete()
