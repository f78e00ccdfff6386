"""The import graph flows one way: each layer of the package imports only the layers below it,
no modules import each other in a circle, and workflow code loads without any I/O library."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "journeys"

# From the ground up (docs/architecture.md); a module may import its own layer and those below.
LAYERS: dict[str, int] = {
    "vocabulary": 0,
    "data": 0,
    "config": 1,
    "channels": 2,
    "segments": 2,
    "kpis": 2,
    "charts": 2,  # Plotly figures and the pages around them (reports, a backtest's page)
    "recommendations": 2,
    "store": 3,
    "client": 3,  # by name, through the vocabulary only: the segment refresh activity uses it
    "activities": 4,
    "workflows": 5,
    "devserver": 6,
    "worker": 6,
    "api": 6,
    "backtest": 7,  # runs a worker, the API's ingestion and the test server together
    "simulate": 7,  # synthetic shoppers for `journeys simulate`
    "cli": 7,
}
PROCESSES = {"devserver", "worker", "api"}  # side by side: none imports another

# Loaded by a workflow or vocabulary module, these would put I/O (or the settings) into the
# workflow sandbox and into every layer that reads the vocabulary.
HEAVY = [
    "sqlmodel", "sqlalchemy", "httpx", "jinja2", "journeys.config.settings", "fastapi", "yaml",
    "psycopg",
]  # fmt: skip
LIGHT = ("journeys.workflows.", "journeys.vocabulary.")


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def imports(path: Path) -> list[tuple[str, bool]]:
    """The journeys modules `path` imports, each with whether it is at module level."""
    tree = ast.parse(path.read_text())
    top = {id(node) for node in tree.body}
    top |= {id(n) for node in tree.body if isinstance(node, ast.With) for n in node.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found += [(name, id(node) in top) for name in names if name.startswith("journeys.")]
    return found


def layer(module: str) -> str:
    return module.split(".")[1] if "." in module else ""


def test_no_module_imports_a_layer_above_its_own():
    known = modules()
    wrong = []
    for name, path in known.items():
        if name == "journeys":
            continue
        own = layer(name)
        for target, _ in imports(path):
            other = layer(target)
            if other == own or target not in known:
                continue
            above = LAYERS[other] > LAYERS[own]
            sideways = own in PROCESSES and other in PROCESSES
            if above or sideways:
                wrong.append(f"{name} imports {target} ({own} -> {other})")
    assert not wrong, "imports against the layers:\n" + "\n".join(sorted(set(wrong)))


def test_every_part_of_the_package_has_a_layer():
    parts = {layer(name) for name in modules() if name != "journeys"}
    assert parts <= set(LAYERS), f"give these a layer: {sorted(parts - set(LAYERS))}"


def test_no_import_circles():
    """Lazy imports count too: one inside a function only hides the circle."""
    known = modules()
    graph = {
        name: {target for target, _ in imports(path) if target in known}
        for name, path in known.items()
    }
    for name in graph:
        graph[name] -= {name}
        graph[name] -= {p for p in graph[name] if name.startswith(p + ".")}  # its own package
    circles = []
    done: set[str] = set()

    def visit(name: str, trail: list[str]) -> None:
        if name in trail:
            circles.append(" -> ".join(trail[trail.index(name) :] + [name]))
            return
        if name in done:
            return
        for target in sorted(graph[name]):
            visit(target, trail + [name])
        done.add(name)

    for name in sorted(graph):
        visit(name, [])
    assert not circles, "import circles:\n" + "\n".join(circles)


@pytest.mark.parametrize("module", sorted(name for name in modules() if name.startswith(LIGHT)))
def test_workflow_and_vocabulary_modules_load_without_io_libraries(module):
    probe = f"import sys, {module}\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split()
    assert not loaded, f"importing {module} loaded {loaded}"
