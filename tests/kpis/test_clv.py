"""BG/NBD and Gamma-Gamma against the published CDNOW results, and `journeys clv fit`.

The CDNOW sample (2,357 customers, Jan 1997 - Jun 1998) is read from the `lifetimes` wheel on
the package registry (downloaded once into a cache, never imported or committed) by the `cdnow`
fixture in conftest.py. Published values: Fader, Hardie & Lee (2005), r=0.243, alpha=4.414,
a=0.793, b=2.426, LL=-9582.4, and a customer with x=2, t_x=30.43, T=38.86 expects 1.226
purchases in the next 39 weeks; Fader & Hardie (2013), p=6.25, q=3.74, gamma=15.44.
"""

import csv
import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from journeys.kpis.clv import fit_bgnbd, fit_gamma_gamma, summarise


def test_bgnbd_and_gamma_gamma_reproduce_the_published_cdnow_fits(cdnow) -> None:  # type: ignore[no-untyped-def]
    customers = summarise(cdnow, date(1997, 9, 30), unit_days=7)
    assert len(customers.ids) == 2357 and int((customers.x > 0).sum()) == 946
    frequency = fit_bgnbd(customers)
    assert (frequency.r, frequency.alpha, frequency.a, frequency.b) == pytest.approx(
        (0.243, 4.414, 0.793, 2.426), abs=0.002
    )
    assert frequency.log_likelihood == pytest.approx(-9582.4, abs=0.1)
    one = np.array([2.0]), np.array([30.43]), np.array([38.86])
    assert frequency.expected_purchases(39, *one)[0] == pytest.approx(1.226, abs=0.001)
    assert 0 < frequency.p_alive(*one)[0] < 1
    spend = fit_gamma_gamma(customers)
    assert (spend.p, spend.q, spend.gamma) == pytest.approx((6.25, 3.74, 15.44), abs=0.01)


def test_a_customer_without_repeats_gets_the_population_mean_spend(cdnow) -> None:  # type: ignore[no-untyped-def]
    spend = fit_gamma_gamma(summarise(cdnow, date(1997, 9, 30)))
    population = spend.p * spend.gamma / (spend.q - 1)
    assert spend.expected_spend(np.array([0.0]), np.array([0.0]))[0] == pytest.approx(population)
    # many repeats pull the estimate towards the customer's own mean
    heavy = spend.expected_spend(np.array([50.0]), np.array([100.0]))[0]
    assert abs(heavy - 100.0) < abs(population - 100.0)


def journeys(*args: str) -> subprocess.CompletedProcess[str]:
    cli = Path(sys.executable).with_name("journeys")
    return subprocess.run([str(cli), *args], capture_output=True, text=True, timeout=120)


def test_the_cli_fits_a_transaction_file_and_writes_predictions(cdnow, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    transactions, predictions = tmp_path / "tx.csv", tmp_path / "pred.csv"
    with transactions.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["customer_id", "date", "amount"])
        writer.writerows((c, d.isoformat(), a) for c, d, a in cdnow)
    done = journeys("clv", "fit", "--transactions", str(transactions), "--calibration-end",
                    "1997-09-30", "--json", "--predictions", str(predictions))  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert set(report["bg_nbd"]) == {"r", "alpha", "a", "b", "log_likelihood"}
    assert set(report["gamma_gamma"]) == {"p", "q", "gamma", "log_likelihood"}
    assert report["bg_nbd"]["log_likelihood"] == pytest.approx(-9582.4, abs=0.1)
    rows = list(csv.DictReader(predictions.open()))
    assert len(rows) == 2357
    assert all(0 <= float(r["p_alive"]) <= 1 and float(r["expected_value"]) >= 0 for r in rows)


@pytest.mark.slow
def test_bad_transaction_files_end_with_the_reason(tmp_path: Path) -> None:
    missing = journeys("clv", "fit", "--transactions", str(tmp_path / "none.csv"))
    assert missing.returncode == 1 and "No such file" in missing.stderr
    no_amount = tmp_path / "a.csv"
    no_amount.write_text("customer_id,date\nc1,2024-01-01\n")
    done = journeys("clv", "fit", "--transactions", str(no_amount))
    assert done.returncode == 1 and "missing column(s) amount" in done.stderr
    bad_date = tmp_path / "b.csv"
    bad_date.write_text("customer_id,date,amount\nc1,2024-01-01,5\nc2,yesterday,3\n")
    done = journeys("clv", "fit", "--transactions", str(bad_date))
    assert done.returncode == 1 and "line 3" in done.stderr and "yesterday" in done.stderr
    one = tmp_path / "c.csv"
    one.write_text("customer_id,date,amount\nc1,2024-01-01,5\n")
    done = journeys("clv", "fit", "--transactions", str(one))
    assert done.returncode == 1 and "at least two customers" in done.stderr
