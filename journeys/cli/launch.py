"""The `journeys` console script's first import. Loading a command takes about a second
(pydantic, SQLAlchemy, and for some numpy or the Temporal SDK): Ctrl-C meanwhile exits 130
without a traceback, as it does once a command runs."""

import sys


def entry() -> None:
    try:
        from journeys.cli.main import entry as run
    except KeyboardInterrupt:
        sys.exit(130)
    run()
