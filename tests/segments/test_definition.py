"""Segment definitions: what is refused, and where the problem is said to be."""

from pathlib import Path

import pytest
import yaml

from journeys.cli.segments import SHIPPED, load_definition_files
from journeys.segments.definition import DefinitionError, parse_definition
from journeys.store.segment_sql import compile_problems


def problems(raw: object) -> dict[str, str]:
    with pytest.raises(DefinitionError) as caught:
        parse_definition(raw)
    return {p.field: p.reason for p in caught.value.problems}


def test_every_problem_is_reported_with_its_path() -> None:
    found = problems(
        {
            "name": "bad",
            "condition": {
                "all": [
                    {"field": "traits.shoe_size", "gte": 40},
                    {"any": [{"field": "traits.age", "between": [1, 2]}]},
                    {"field": "traits.age", "contains": "x"},
                    {"field": "traits.postal_code", "eq": 1060},
                    {"not": {"field": "stage", "eq": "nope"}},
                    {"field": "events.count", "event": "A", "type": "page", "gte": 1},
                    {"field": "orders.total", "gte": 3, "lte": 5},
                    {"field": "rfm.recency", "eq": 6},
                    {"field": "engagement", "in": []},
                    {"field": "stage", "within": "3d", "eq": "loyalty"},
                    {"field": "events.count", "within": "soon", "gte": 1},
                ]
            },
        }
    )
    assert found.keys() == {
        "condition.all[0].field",
        "condition.all[1].any[0].between",
        "condition.all[2].contains",
        "condition.all[3].eq",
        "condition.all[4].not.eq",
        "condition.all[5].type",
        "condition.all[6].lte",
        "condition.all[7].eq",
        "condition.all[8].in",
        "condition.all[9].within",
        "condition.all[10].within",
    }, found
    assert "unknown field 'traits.shoe_size'" in found["condition.all[0].field"]
    assert "unknown key 'between'" in found["condition.all[1].any[0].between"]
    assert "quote numbers" in found["condition.all[3].eq"]


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"name": "Bad Name", "condition": {"field": "stage", "exists": True}}, "name"),
        ({"name": "x"}, "condition"),
        ({"name": "x", "condition": {"all": []}}, "condition.all"),
        ({"name": "x", "condition": {"all": [{"field": "stage", "exists": True}], "any": []}},
         "condition.any"),
        ({"name": "x", "condition": {"field": "stage"}}, "condition.field"),
        ({"name": "x", "condition": {"field": "stage", "eq": "loyalty"}, "colour": 1}, "colour"),
        ("not a mapping", "definition"),
    ],
)  # fmt: skip
def test_structural_problems_name_their_place(raw: object, field: str) -> None:
    assert field in problems(raw)


def test_too_deep_is_refused() -> None:
    condition: dict[str, object] = {"field": "stage", "exists": True}
    for _ in range(9):
        condition = {"not": condition}
    assert "condition" in problems({"name": "deep", "condition": condition})


def test_shipped_definitions_are_valid_and_compile() -> None:
    definitions, errors = load_definition_files([SHIPPED])
    assert not errors
    assert len(definitions) >= 5
    for definition in definitions:
        assert compile_problems(definition) == []


def test_files_report_every_error_with_file_and_path(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(
        yaml.safe_dump({"name": "a", "condition": {"field": "traits.age", "gte": "old"}})
    )
    (tmp_path / "b.yaml").write_text("name: [unclosed")
    valid = yaml.safe_dump({"name": "c", "condition": {"field": "stage", "exists": True}})
    (tmp_path / "c.yaml").write_text(valid)
    (tmp_path / "d.yaml").write_text(valid)
    _, errors = load_definition_files([tmp_path, tmp_path / "missing.yaml"])
    text = "\n".join(errors)
    assert f"{tmp_path / 'a.yaml'}: condition.gte: 'old' is not a number" in text
    assert f"{tmp_path / 'b.yaml'}: cannot read" in text
    assert f"{tmp_path / 'd.yaml'}: name: 'c' is also the name in {tmp_path / 'c.yaml'}" in text
    assert "missing.yaml: no such file or directory" in text
