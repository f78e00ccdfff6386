"""The installed release (pyproject.toml's version), for `journeys --version` and the API's
OpenAPI document. Kept out of the package's `__init__`: workflow sandboxes import that afresh
for every run, and reading the metadata is file I/O."""

from importlib.metadata import PackageNotFoundError, version

try:
    VERSION = version("journeys")
except PackageNotFoundError:  # a source tree that was never installed
    VERSION = "0+unknown"
