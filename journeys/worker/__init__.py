"""The worker process: connects and registers; defines no workflow, activity or model."""
