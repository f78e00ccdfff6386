"""`journeys recs evaluate`: a planted pattern collaborative filtering must find and popularity
cannot, the JSON report, and one-line errors for bad input."""

import csv
import json
import random
from pathlib import Path

import pytest

from journeys.cli.main import main


def planted(path: Path, with_orders: bool = False) -> Path:
    """Ten groups of customers, each buying its own five products (in random order), after two
    of three best-sellers that everyone buys first."""
    rng = random.Random(5)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["user_id", "item_id", "timestamp"] + (["order_id"] if with_orders else []))
        for user in range(200):
            group = user % 10
            items = rng.sample(["P0", "P1", "P2"], 2) + rng.sample(
                [f"g{group}-{n}" for n in range(5)], 5
            )
            for n, item in enumerate(items):
                order = [f"o{user}-{n}"] if with_orders else []
                writer.writerow([f"u{user}", item, 1_700_000_000 + n * 3600 + user, *order])
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit:
        main(["recs", "evaluate", *args])
    out, err = capsys.readouterr()
    return int(exit.value.code or 0), out, err


def test_collaborative_filtering_beats_popularity_on_a_planted_pattern(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, str(planted(tmp_path / "i.csv")), "--json", "--k", "5")
    assert code == 0
    report = json.loads(out)
    scores = {s["kind"]: s for s in report["scores"]}
    assert report["k"] == 5 and report["test_customers"] == 200
    assert scores["people_like_you"]["recall"] > 0.9
    assert scores["popularity"]["recall"] < 0.5
    assert scores["people_like_you"]["precision"] > 2 * scores["popularity"]["precision"]
    assert scores["related"]["note"].startswith("n/a")
    assert scores["similar"]["note"] == "n/a: no catalogue"


def test_the_table_with_a_catalogue_and_order_ids(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    catalogue = tmp_path / "c.csv"
    with catalogue.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["item_id", "name", "description", "category"])
        for group in range(10):
            for n in range(5):
                writer.writerow(
                    [f"g{group}-{n}", f"thing {n}", f"family{group} gadget", f"c{group}"]
                )
    code, out, _ = run(
        capsys, str(planted(tmp_path / "i.csv", with_orders=True)), "--catalogue", str(catalogue)
    )
    assert code == 0
    assert "| popularity |" in out and "| people_like_you |" in out
    similar = next(line for line in out.splitlines() if line.startswith("| similar |"))
    assert "n/a" not in similar


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        (None, [], "No such file or directory"),
        ("user_id,item_id\nu1,p1\n", [], "missing column timestamp"),
        ("user_id,item_id,timestamp\nu1,p1,yesterday\n", [], ":2: bad timestamp 'yesterday'"),
        ("user_id,item_id,timestamp,quantity\nu1,p1,1,-2\n", [], "quantity must be more than 0"),
        ("user_id,item_id,timestamp\n", [], "no interactions"),
        ("user_id,item_id,timestamp\nu1,p1,1\n", ["--k", "0"], "--k must be at least 1"),
    ],
)
def test_bad_input_is_one_line_on_stderr_and_a_non_zero_exit(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: str | None,
    args: list[str],
    message: str,
) -> None:
    path = tmp_path / "i.csv"
    if content is not None:
        path.write_text(content)
    code, out, err = run(capsys, str(path), *args)
    assert code == 1
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("journeys recs evaluate: ")
    assert message in err


def test_iso_timestamps_are_accepted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "i.csv"
    path.write_text(
        "user_id,item_id,timestamp\nu1,a,2026-01-01T10:00:00Z\nu1,b,2026-01-02\n"
        "u2,a,2026-01-01T09:00:00+02:00\nu2,b,2026-01-03\n"
    )
    code, out, _ = run(capsys, str(path), "--json")
    assert code == 0
    assert json.loads(out)["interactions"] == 4
