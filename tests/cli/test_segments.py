"""`journeys segments`: publish (all or nothing), list, show, members."""

import argparse
from pathlib import Path

import pytest

from journeys.cli import segments as segments_cli
from journeys.config.settings import Settings


def run(settings: Settings, action: str, **args: object) -> int:
    return segments_cli.run(argparse.Namespace(action=action, **args), settings)


def test_publish_list_show_members(
    sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(database_url=sqlite_url)
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\ncondition: {field: traits.age, between: 3}\n")
    assert run(settings, "publish", paths=[segments_cli.SHIPPED, bad]) == 1
    assert "bad.yaml: condition.between: unknown key 'between'" in capsys.readouterr().err
    assert run(settings, "list") == 0
    assert "no segments published yet" in capsys.readouterr().out

    assert run(settings, "publish", paths=[segments_cli.SHIPPED]) == 0
    assert "champions v1 published" in capsys.readouterr().out
    assert run(settings, "publish", paths=[segments_cli.SHIPPED]) == 0
    assert "champions v1 unchanged" in capsys.readouterr().out
    assert run(settings, "list") == 0
    assert "window_shoppers" in capsys.readouterr().out
    assert run(settings, "show", name="champions") == 0
    assert "field: rfm.recency" in capsys.readouterr().out
    assert run(settings, "members", name="champions", limit=10) == 0
    assert run(settings, "members", name="nope", limit=10) == 1
    assert "no segment 'nope'" in capsys.readouterr().err
    assert run(settings, "archive", name="champions") == 0
    assert "champions is archived" in capsys.readouterr().out
