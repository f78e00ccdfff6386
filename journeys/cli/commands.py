"""Which module serves each `journeys` command, known without importing any: most of them load
the store, the template engine or numpy, a second or so that a command would otherwise pay for
every other one (`main` imports only the module of the command asked for)."""

# `journeys GROUP ACTION ...`: each module has COMMAND, add_commands(sub) and run(args, settings)
GROUPS = {
    "templates": "journeys.cli.templates",
    "recs": "journeys.cli.recs",
    "segments": "journeys.cli.segments",
    "clv": "journeys.cli.clv",
    "replay": "journeys.cli.replay",
    "experiments": "journeys.cli.experiments",
    "inspect": "journeys.cli.inspect",
    "report": "journeys.cli.report",
    "backtest": "journeys.cli.backtest",
    "events": "journeys.cli.events",
    "simulate": "journeys.cli.simulate",
    "codec-server": "journeys.cli.codec_server",
    "keys": "journeys.cli.keys",
    "db": "journeys.cli.db",
}
# `journeys ACTION ...` on journey specs: journeys.cli.catalog
CATALOG = "journeys.cli.catalog"
CATALOG_COMMANDS = ("publish", "list", "show", "enable", "disable", "archive", "schema")
