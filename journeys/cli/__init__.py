"""The `journeys` command line."""
