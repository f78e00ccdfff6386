"""The journey interpreter's parts: the run's state (`run.JourneyRun`) and one module per step
family, each a plain object JourneyWorkflow owns and hands the run to."""
