"""When a long-lived workflow should continue as new: shared by the customer and journey runs."""

from temporalio import workflow


def history_is_long(threshold: int) -> bool:
    """The server suggests it (history large in events or bytes), or the run has written
    `threshold` history events."""
    info = workflow.info()
    return info.is_continue_as_new_suggested() or info.get_current_history_length() >= threshold
