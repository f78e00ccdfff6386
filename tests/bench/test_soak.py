"""bench/soak.py: its memory verdict tells a leak from a plateau, and a one-minute soak keeps
every event and message while it samples and plots."""

import json
from pathlib import Path

import pytest

from bench.soak import Sample, main, slope_mb_per_hour, warm_from


def series(mb_at: list[float], cached: list[int] | None = None) -> list[Sample]:
    return [
        Sample(minute=float(i), worker_mb=mb, server_mb=300.0, api_mb=200.0, calls=600,
               emails=100, latency_p50_s=0.2, latency_p99_s=0.8, longest_history=90, query_s=0.1,
               cached=cached[i] if cached else None)
        for i, mb in enumerate(mb_at)
    ]  # fmt: skip


def test_a_cache_filling_then_flat_passes_and_a_slow_leak_does_not() -> None:
    filling = [200 + 40 * min(i, 10) for i in range(60)]  # grows 10 minutes, then flat
    noisy = [mb + (7 if i % 5 == 0 else 0) for i, mb in enumerate(filling)]
    assert slope_mb_per_hour(series(noisy), "worker_mb", warmup_minutes=10) == 0.0
    leak = [600 + 1.0 * i for i in range(60)]  # 1 MB a minute
    slope = slope_mb_per_hour(series(leak), "worker_mb", warmup_minutes=10)
    assert slope is not None and 55 < slope < 65  # over the 30 MB/h allowed
    assert slope_mb_per_hour(series(leak[:11]), "worker_mb", warmup_minutes=10) is None


def test_memory_is_judged_from_when_the_workers_cache_is_full() -> None:
    cached = [min(60 * i, 2000) for i in range(60)]  # full at minute 34
    assert warm_from(series([500.0] * 60, cached), cache=2000, at_least=0) == 34.0
    assert warm_from(series([500.0] * 60, cached), cache=2000, at_least=40) == 40.0
    assert warm_from(series([500.0] * 60, [1999] * 60), cache=2000, at_least=0) is None
    assert warm_from(series([500.0] * 60), cache=2000, at_least=0) is None  # gauge unread


@pytest.mark.slow
@pytest.mark.e2e
def test_a_short_soak_loses_and_doubles_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """12 seconds are too short to judge memory (the hour is `make soak`): with a cache of ten
    workflows, full within seconds, the memory checks run and report a slope; every other check
    must pass."""
    png = tmp_path / "soak.png"
    main(["--minutes", "0.2", "--rate", "8", "--sample-seconds", "2",
          "--cache", "10", "--warmup-minutes", "0", "--json", "--png", str(png)])  # fmt: skip
    report = json.loads(capsys.readouterr().out)
    checks = {c["check"]: c for c in report["checks"]}
    failed = [c for name, c in checks.items() if not c["ok"] and "memory" not in name]
    assert failed == []
    assert all("MB/h" in c["detail"] for name, c in checks.items() if "memory" in name)
    samples = report["samples"]
    assert max(s["cached"] or 0 for s in samples) >= 10  # the worker's gauge, read: full
    assert len(samples) >= 5 and samples[-1]["calls"] > 0
    assert sum(s["emails"] for s in samples[2:]) > 0  # new customers keep messages going
    assert png.read_bytes().startswith(b"\x89PNG")
