"""Bounded background workers: mirror (shadow) calls and flag-only evaluations, off the request path.

The user never waits for a queued job: a job that does not fit in the queue is refused (mirrors
are then dropped and counted; evaluations run inline instead), never queued without bound. Jobs
run one at a time on a daemon thread; a job that fails is logged and the worker goes on. At exit
the queue is drained before the tracer provider flushes, so deferred spans are not lost.
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
from collections.abc import Callable

from opentelemetry import metrics

from .. import semconv

logger = logging.getLogger(__name__)

DEFAULT_MAX_PENDING = 16


class MirrorWorker:
    """Run jobs on one daemon thread with at most ``max_pending`` jobs waiting."""

    def __init__(
        self,
        meter: metrics.Meter,
        max_pending: int = DEFAULT_MAX_PENDING,
        name: str = "agentwatch-mirror",
        dropped_metric: str | None = semconv.METRIC_MIRRORS_DROPPED,
    ) -> None:
        self._name = name
        self._queue: queue.Queue[Callable[[], None] | None] = queue.Queue(maxsize=max_pending)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.dropped = 0
        self.failed = 0
        self._exit_hook = False
        self._dropped_counter = meter.create_counter(
            semconv.METRIC_MIRRORS_DROPPED,
            unit="{call}",
            description="Mirror calls dropped because the queue was full.",
        )

    def submit(self, job: Callable[[], None]) -> bool:
        """Queue a job; return False (and count a drop) when the queue is full."""
        self._start()
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            with self._lock:
                self.dropped += 1
            if self._dropped_counter is not None:
                self._dropped_counter.add(1)
            return False
        return True

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until every queued job has run; return False on timeout (tests and shutdown)."""
        done = threading.Event()
        if not self.submit_marker(done.set):
            return False
        return done.wait(timeout)

    def submit_marker(self, marker: Callable[[], None]) -> bool:
        self._start()
        try:
            self._queue.put(marker, timeout=1.0)
        except queue.Full:
            return False
        return True

    def stop(self) -> None:
        """Let the queued jobs finish and stop the thread; later submissions start a new one."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout=5.0)

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
                if not self._exit_hook:
                    # Registered after the tracer provider's own exit hook, so it runs before it.
                    atexit.register(self.drain, 10.0)
                    self._exit_hook = True

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            try:
                job()
            except Exception as exc:  # noqa: BLE001 - a failed mirror must not stop the worker
                with self._lock:
                    self.failed += 1
                logger.warning(
                    "agentwatch: a mirror call failed (%s: %s); the primary call is unaffected.",
                    type(exc).__name__,
                    exc,
                )
