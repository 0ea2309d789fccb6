"""Run a slow check on a worker thread and stop waiting for it at its budget.

A Python function cannot be interrupted, so a check past its budget keeps running in the
background and its result is dropped; the caller goes on at once with a timeout. At most
``MAX_RUNNING`` checks run this way at a time: when all are busy (checks that hang), the next
one is reported as timed out without starting, so stuck checks never pile up.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

MAX_RUNNING = 4
_slots = threading.BoundedSemaphore(MAX_RUNNING)
_jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
_started = 0
_start_lock = threading.Lock()


def _work() -> None:
    while True:
        _jobs.get()()


def _ensure_workers() -> None:
    """Start the daemon workers on first use; there are as many as checks may run at once."""
    global _started
    if _started == MAX_RUNNING:
        return
    with _start_lock:
        while _started < MAX_RUNNING:
            threading.Thread(target=_work, name="agentwatch-guardrail", daemon=True).start()
            _started += 1


class _Outcome:
    __slots__ = ("done", "error", "value")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: object = None
        self.error: BaseException | None = None


def run_within(function: Callable[[], T], budget_ms: float) -> tuple[bool, T | None]:
    """Return ``(True, value)`` when ``function`` finished within ``budget_ms``, else ``(False, None)``.

    An exception from ``function`` is raised here, as if it had been called directly.
    """
    if not _slots.acquire(blocking=False):
        return False, None
    _ensure_workers()
    outcome = _Outcome()

    def job() -> None:
        try:
            outcome.value = function()
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting caller
            outcome.error = exc
        finally:
            _slots.release()
            outcome.done.set()

    _jobs.put(job)
    if not outcome.done.wait(budget_ms / 1000):
        return False, None
    if outcome.error is not None:
        raise outcome.error
    return True, outcome.value  # type: ignore[return-value]
