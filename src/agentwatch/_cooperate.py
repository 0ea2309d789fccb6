"""Let background work give the interpreter lock back often.

Evaluations that run on agentwatch's worker thread are CPU-bound Python, and a thread that holds
the GIL keeps the application's own threads waiting for up to the switch interval (5 ms by
default) each time. Long loops call ``pause()``; on a thread marked as background it releases the
GIL (``time.sleep(0)``), elsewhere it does nothing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

_local = threading.local()


def pause() -> None:
    """Release the GIL for a moment when running as background work."""
    if getattr(_local, "background", False):
        time.sleep(0)


@contextmanager
def background() -> Iterator[None]:
    """Mark the block as background work on this thread."""
    previous = getattr(_local, "background", False)
    _local.background = True
    try:
        yield
    finally:
        _local.background = previous
