"""The one guard for faults inside agentwatch.

A fault in our own code (an extractor that meets an odd SDK object, an exporter bug) must never
reach the user's call. It is logged at DEBUG with its traceback, plus one WARNING per fault kind,
and the call goes on, untraced if need be. Under pytest the fault is re-raised so our own tests see
our bugs; tests that prove the user is shielded switch that off with ``raise_in_tests(False)``.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

logger = logging.getLogger("agentwatch")

_T = TypeVar("_T")

_warned_kinds: set[str] = set()
_warned_lock = threading.Lock()
_raise_in_tests = True


def _under_pytest() -> bool:
    # pytest sets this variable for the duration of each test, and only then.
    return _raise_in_tests and "PYTEST_CURRENT_TEST" in os.environ


def report_fault(kind: str, exc: BaseException) -> None:
    """Log a fault inside agentwatch; re-raise it when a pytest test is running.

    Args:
        kind: a short, stable name of the place that failed, such as ``"openai.response"``.
        exc: the exception that agentwatch caught.
    """
    logger.debug("agentwatch fault in %s", kind, exc_info=exc)
    with _warned_lock:
        first = kind not in _warned_kinds
        _warned_kinds.add(kind)
    if first:
        logger.warning(
            "agentwatch hit an internal error in %s (%s: %s); your code keeps running, "
            "this call may be traced partly or not at all. Enable DEBUG logging for "
            "'agentwatch' to see the traceback.",
            kind,
            type(exc).__name__,
            exc,
        )
    if _under_pytest():
        raise exc


def call_guarded(kind: str, func: Callable[..., _T], *args: object, default: _T) -> _T:
    """Call ``func(*args)``; on an exception report it as a fault and return ``default``."""
    try:
        return func(*args)
    except Exception as exc:  # noqa: BLE001 - the guard exists to catch everything of ours
        report_fault(kind, exc)
        return default


@contextmanager
def guarded(kind: str) -> Iterator[None]:
    """Run a block of agentwatch code; a fault inside it is reported, not propagated."""
    try:
        yield
    except Exception as exc:  # noqa: BLE001
        report_fault(kind, exc)


@contextmanager
def raise_in_tests(enabled: bool) -> Iterator[None]:
    """Switch the re-raise under pytest on or off for a block (for fault-injection tests)."""
    global _raise_in_tests
    previous = _raise_in_tests
    _raise_in_tests = enabled
    try:
        yield
    finally:
        _raise_in_tests = previous


def reset_warnings() -> None:
    """Forget which fault kinds were already warned about (tests use this)."""
    with _warned_lock:
        _warned_kinds.clear()
