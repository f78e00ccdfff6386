"""The tests' own layout: a test module takes what it shares from tests/helpers/ or from a
`conftest.py` fixture, never from another test module (whose tests would then be collected
twice, or whose helpers would move with it and break an unrelated test)."""

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def in_tests(name: str) -> bool:
    return name == "tests" or name.startswith("tests.")


def is_helper(name: str) -> bool:
    """`name` (relative to the tests package) is the helpers package or one of its modules."""
    return name == "helpers" or name.startswith("helpers.")


def imported_test_modules(path: Path) -> list[str]:
    """What `path` imports from the tests package other than its helpers: `tests.X` modules
    and relative imports."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if in_tests(a.name)]
        elif isinstance(node, ast.ImportFrom) and node.level:
            found += (
                [] if is_helper(node.module or "") else ["." * node.level + (node.module or "")]
            )
        elif isinstance(node, ast.ImportFrom) and node.module == "tests":
            found += [f"tests.{a.name}" for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and in_tests(node.module):
            found.append(node.module)
    return [name for name in found if name.startswith(".") or not is_helper(name[len("tests.") :])]


def test_no_test_module_imports_another() -> None:
    offenders = {
        str(path.relative_to(TESTS.parent)): names
        for path in sorted(TESTS.rglob("*.py"))
        if (names := imported_test_modules(path))
    }
    assert offenders == {}, f"import these from tests/helpers/ or a conftest.py: {offenders}"


def test_the_check_sees_every_kind_of_import(tmp_path: Path) -> None:
    module = tmp_path / "test_x.py"
    source = [  # `{t}` for the package, so that grepping the tests for such imports finds none
        "import {t}.workflows.test_journey",
        "from {t}.channels import smtp",
        "from {t}.store.conftest import database_url",
        "from .test_other import thing",
        "from {t}.helpers.temporal import wait_for",
        "from {t}.helpers import journeys",
        "import {t}.helpers.smtp",
        "from {t} import helpers, conftest",
    ]
    module.write_text("\n".join(line.format(t="tests") for line in source))
    assert imported_test_modules(module) == [
        "tests.workflows.test_journey", "tests.channels", "tests.store.conftest", ".test_other",
        "tests.conftest",
    ]  # fmt: skip
