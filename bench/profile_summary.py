"""Summarise py-spy collapsed stacks written by `bench.ingest --profile DIR [--profile-gil]`.

    .venv/bin/python -m bench.profile_summary DIR/api.txt DIR/worker.txt [--rate 200]

Each sample goes to the first category (in the order below) that one of its frames matches,
so the shares add up to 100%. With --profile-gil the samples are where the interpreter's one
GIL was held: the process's Python work (C code that releases the GIL, like sqlite3 executing
a statement, is not in it; /proc CPU in the benchmark's tables is the whole).
"""

import argparse
import re
from collections import Counter
from pathlib import Path

CATEGORIES = [
    # API
    ("api: _store (SQLAlchemy + sqlite3, 1st transaction)", r"^_store \(api/ingest"),
    ("api: _settle (SQLAlchemy + sqlite3, 2nd transaction)", r"^_settle \(api/ingest"),
    ("api: deliver -> client.start_workflow", r"^deliver \(.*client"),
    ("api: /v1/batch body (size check, validation)", r"^create_app.<locals>.batch "),
    ("api: ingest() glue (to_thread hops, grouping)", r"^_ingest \(api/ingest|^Ingestor"),
    ("api: route (auth, SegmentCall validation, response)", r"make_route.<locals>.route "),
    ("api: read_body", r"read_body"),
    ("fastapi/starlette framework", r"fastapi/|starlette/"),
    ("HTTP: uvicorn/h11", r"uvicorn/|h11/"),
    # worker
    (
        "worker: sandbox (imports, restrictions)",
        r"workflow_sandbox/_importer|_restrictions|"
        r"_static_getmro|importlib",
    ),
    ("worker: workflow activation in the sandbox", r"workflow_sandbox|_workflow_instance"),
    ("worker: data converter", r"converter"),
    ("worker: bridge poll/complete", r"temporalio/bridge/worker"),
    ("other temporalio", r"temporalio/"),
    # both
    (
        "thread-pool submit, loop wake-ups",
        r"ThreadPoolExecutor.submit|_write_to_self|_read_from_self",
    ),
    ("asyncio loop", r"asyncio/"),
]


def summarise(path: Path, rate: float) -> None:
    compiled = [(label, re.compile(pattern)) for label, pattern in CATEGORIES]
    counts: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        frames = stack.split(";")[1:]  # [0] is the thread
        total += int(n)
        label = next((lb for lb, rx in compiled if any(rx.search(f) for f in frames)), "other")
        counts[label] += int(n)
    print(f"== {path}: {total} samples = {total / rate:.2f} s at {rate:g} Hz")
    for label, n in counts.most_common():
        print(f"  {n / max(total, 1):6.1%}  {n / rate:7.2f} s  {label}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--rate", type=float, default=200.0, help="py-spy --rate (default 200)")
    args = parser.parse_args()
    for path in args.files:
        summarise(path, args.rate)


if __name__ == "__main__":
    main()
