"""The patch registry, docs/versioning.md's table and the workflows' `workflow.patched` calls
name the same patches, each at its stage, each introduced by a recorded history version."""

import ast
from pathlib import Path

from journeys.vocabulary.patches import PATCHES

ROOT = Path(__file__).resolve().parents[2]
CALLS = {"patched": "patched", "deprecate_patch": "deprecated"}


def calls_in_workflows() -> set[tuple[str, str]]:
    """(patch name, stage its call implies) for every patch call in the workflow modules."""
    found = set()
    for path in sorted((ROOT / "journeys" / "workflows").rglob("*.py")):
        tree = ast.parse(path.read_text())
        constants = {
            target.id: node.value.value
            for node in tree.body
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            if node.func.attr not in CALLS:
                continue
            [argument] = node.args
            if isinstance(argument, ast.Constant):
                name = argument.value
            else:
                assert isinstance(argument, ast.Name), f"{path.name}: name a patch by a constant"
                name = constants[argument.id]
            found.add((name, CALLS[node.func.attr]))
    return found


def documented() -> set[tuple[str, ...]]:
    text = (ROOT / "docs" / "versioning.md").read_text()
    table = text.split("## Our patches", 1)[1].split("\n| patch |", 1)[1]
    rows = []
    for line in table.splitlines()[2:]:
        if not line.startswith("|"):
            break
        cells = [cell.strip().strip("`") for cell in line.strip("|").split("|")]
        rows.append(tuple(cells[:4]))
    return set(rows)


def test_the_code_calls_exactly_the_registered_patches():
    registered = {(patch.name, patch.stage) for patch in PATCHES}
    assert calls_in_workflows() == registered


def test_the_versioning_page_lists_the_registry():
    assert documented() == {(p.name, p.workflow, p.since, p.stage) for p in PATCHES}


def test_each_patch_came_with_recorded_histories():
    tags = {path.stem.split("-")[1] for path in (ROOT / "tests/workflows/histories").glob("*.json")}
    assert "baseline" in tags
    missing = [patch.name for patch in PATCHES if patch.since not in tags]
    assert not missing, f"record histories for: {missing}"
