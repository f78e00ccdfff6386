"""KPI fixtures: the CDNOW sample the CLV models are checked against."""

from datetime import date, datetime

import pytest

from bench.wheels import read


@pytest.fixture(scope="session")
def cdnow() -> list[tuple[str, date, float]]:
    """(customer, day, amount) rows of the CDNOW sample, read from the `lifetimes` wheel."""
    text = read("lifetimes", "0.11.3", "lifetimes/datasets/CDNOW_sample.txt").decode()
    rows = []
    for line in text.splitlines():
        customer, _, day, _, amount = line.split()
        rows.append((customer, datetime.strptime(day, "%Y%m%d").date(), float(amount)))
    return rows
