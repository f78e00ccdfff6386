"""The `journeys` console script's first import. Loading the commands takes a second or two
(pydantic, SQLAlchemy, numpy, the Temporal SDK): Ctrl-C meanwhile exits 130 without a
traceback, as it does once a command runs."""

import sys


def entry() -> None:
    try:
        from journeys.cli.main import entry as run
    except KeyboardInterrupt:
        sys.exit(130)
    run()
