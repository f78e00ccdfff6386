"""Settings and logging shared by the API, the worker, the CLI and the tests."""
