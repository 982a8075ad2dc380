"""Progress callbacks and cancel flags of long runs (dataset statistics, top images, training)."""

from __future__ import annotations

import threading
from typing import Callable, Union

from .errors import WavevisError

__all__ = ["CancelFlag", "Cancelled", "ProgressFn", "check_cancel"]

# progress(done, total, what): called after each unit of work (an image, a batch), what = its name.
ProgressFn = Callable[[int, int, str], None]
# Set the event (or make the callable return True) from another thread to stop a run between two
# units of work; the run raises Cancelled.
CancelFlag = Union[threading.Event, Callable[[], bool], None]


class Cancelled(WavevisError):
    """A long run stopped because its cancel flag was set."""


def check_cancel(cancel: CancelFlag, what: str = "the run") -> None:
    """Raise Cancelled when the flag is set (an Event that is set, or a callable returning True)."""
    if cancel is None:
        return
    stop = cancel.is_set() if isinstance(cancel, threading.Event) else bool(cancel())
    if stop:
        raise Cancelled(f"{what} was cancelled")
