"""Backtests asked for through the API: the request when it is made, the report (or why there
is none) when its workflow is done."""

from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session, col, select

from journeys.store.models import BacktestRun

FINISHED = ("done", "stopped", "failed")


def create_backtest(session: Session, *, backtest_id: str, request: dict[str, Any]) -> BacktestRun:
    run = BacktestRun(backtest_id=backtest_id, request=request, requested_at=datetime.now(UTC))
    session.add(run)
    session.flush()
    return run


def finish_backtest(
    session: Session, *, backtest_id: str, status: str, report: dict[str, Any] | None,
    error: str = "",
) -> None:  # fmt: skip
    """Idempotent: a retried activity writes the same row again."""
    assert status in FINISHED, status
    run = session.get(BacktestRun, backtest_id)
    if run is None:  # the request row is written before the workflow starts
        raise LookupError(f"no backtest {backtest_id!r}")
    run.status, run.report, run.error = status, report, error
    run.finished_at = datetime.now(UTC)
    session.add(run)


def get_backtest(session: Session, backtest_id: str) -> BacktestRun | None:
    return session.get(BacktestRun, backtest_id)


def list_backtests(session: Session, *, limit: int = 50) -> list[BacktestRun]:
    query = select(BacktestRun).order_by(col(BacktestRun.requested_at).desc()).limit(limit)
    return list(session.exec(query))
