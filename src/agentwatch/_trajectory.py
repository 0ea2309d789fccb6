"""Trajectories: one agent run, its numbered steps and the evidence later steps are judged against.

A run lives in a context variable, so threads and asyncio tasks each see their own. A model call
outside any run is a one-step run of its own. Evidence stays in memory only and goes away with the
run object; nothing is kept per call once its span has ended.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import Collection
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from . import semconv
from ._guard import call_guarded, report_fault
from ._state import STATE

# Bounds on what one run keeps, so a long agent loop cannot grow without limit.
MAX_EVIDENCE_ITEMS = 512
MAX_EVIDENCE_CHARS = 2_000_000


@dataclass(frozen=True)
class Evidence:
    """One piece of text a later step can be judged against."""

    kind: str  # "tool_result", "retrieval", "system", "user"
    text: str
    step: int
    source: str | None = None  # tool call id, document id, ...


@dataclass
class Run:
    """One agent run: its root span, its step counter and its evidence."""

    name: str
    session_id: str | None = None
    span: Span | None = None
    implicit: bool = False
    evidence: list[Evidence] = field(default_factory=list)
    # Kept only while inline evaluators are on: what task completion judges at the run's end.
    last_request: str = ""
    last_answer: str = ""
    last_messages: Any = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    _steps: int = 0
    _evidence_chars: int = 0
    _evidence_keys: set[bytes] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def steps(self) -> int:
        """Number of steps started so far."""
        return self._steps

    @property
    def trace_id(self) -> str | None:
        """The run's trace id as 32 hex digits, or None when the run has no recorded span."""
        if self.span is None:
            return None
        context = self.span.get_span_context()
        return format(context.trace_id, "032x") if context.is_valid else None

    def next_step(self) -> int:
        """Claim the next step number (1, 2, 3, ...)."""
        with self._lock:
            self._steps += 1
            return self._steps

    def add_evidence(self, kind: str, text: str, step: int, source: str | None = None) -> bool:
        """Keep ``text`` as evidence unless it is empty, already kept, or over the run's bounds."""
        if self.implicit or not text or not text.strip():
            return False
        key = _evidence_key(text)
        with self._lock:
            if key in self._evidence_keys:
                return False
            if (
                len(self.evidence) >= MAX_EVIDENCE_ITEMS
                or self._evidence_chars + len(text) > MAX_EVIDENCE_CHARS
            ):
                return False
            self._evidence_keys.add(key)
            self._evidence_chars += len(text)
            self.evidence.append(Evidence(kind, text, step, source))
            return True

    def narrow_retrieval(self, steps: Collection[int], sources: Collection[str]) -> None:
        """Drop the documents retrieved at ``steps`` whose source is not in ``sources``.

        A query engine's postprocessors (rerankers, similarity cutoffs) pass on fewer documents
        than the retriever returned, and only those reach the model.
        """
        with self._lock:
            kept: list[Evidence] = []
            for item in self.evidence:
                if item.kind == "retrieval" and item.step in steps and item.source not in sources:
                    self._evidence_chars -= len(item.text)
                    self._evidence_keys.discard(_evidence_key(item.text))
                else:
                    kept.append(item)
            self.evidence = kept

    def evidence_texts(self) -> list[str]:
        """Return the evidence gathered so far, oldest first."""
        with self._lock:
            return [item.text for item in self.evidence]


def _evidence_key(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "replace"), digest_size=16).digest()


# Stands for every one-step run: it keeps no evidence (add_evidence callers check ``implicit``).
_IMPLICIT_RUN = Run(name="", implicit=True, _steps=1)

_current_run: ContextVar[Run | None] = ContextVar("agentwatch_run", default=None)


def current_run() -> Run | None:
    """Return the run of the current context, or None outside any run."""
    return _current_run.get()


def enter_run(run: Run) -> Token[Run | None]:
    """Make ``run`` the current run; the caller passes the token to ``exit_run`` in the same context.

    For framework callbacks that open and close a run in two calls (span enter and exit) instead
    of one ``with`` block.
    """
    return _current_run.set(run)


def exit_run(token: Token[Run | None]) -> None:
    """Restore the run that was current before ``enter_run``; raises ValueError in another context."""
    _current_run.reset(token)


def step_for_call() -> tuple[Run, int]:
    """Return the run a new step belongs to and its step number.

    Outside any run the step opens a one-step run of its own, which is not stored anywhere.
    """
    run = _current_run.get()
    if run is None:
        return _IMPLICIT_RUN, 1
    return run, run.next_step()


# Exceptions that stop a run without it having failed.
_CONTROL_FLOW = (GeneratorExit, asyncio.CancelledError, KeyboardInterrupt)


def is_control_flow(exc: BaseException | None) -> bool:
    """Return True for exceptions that stop work without it failing (cancellation, early exit)."""
    return isinstance(exc, _CONTROL_FLOW)


def start_agent_span(
    name: str, session_id: str | None = None, context: otel_context.Context | None = None
) -> Span:
    """Start an ``invoke_agent {name}`` span; frameworks pass their parent ``context`` explicitly."""
    attributes: dict[str, str] = {
        semconv.GEN_AI_OPERATION_NAME: semconv.OPERATION_INVOKE_AGENT,
        semconv.GEN_AI_AGENT_NAME: name,
        semconv.OPENINFERENCE_SPAN_KIND: semconv.SPAN_KIND_AGENT,
    }
    if session_id is not None:
        attributes[semconv.GEN_AI_CONVERSATION_ID] = session_id
        attributes[semconv.SESSION_ID] = session_id
    return STATE.tracer.start_span(
        f"{semconv.OPERATION_INVOKE_AGENT} {name}",
        context=context,
        kind=SpanKind.INTERNAL,
        attributes=attributes,
    )


def end_agent_span(
    span: Span, run: Run | None, exc: BaseException | None, control_flow: bool = False
) -> None:
    """End an agent span: step count and task completion on a run's root, ERROR on a failure."""
    if run is not None and run.span is span:
        span.set_attribute(semconv.RUN_STEPS, run.steps)
        if exc is None and STATE.inline is not None:
            from .governance._inline import evaluate_run_end

            call_guarded("evaluators.run", evaluate_run_end, span, run, default=None)
    if exc is not None and not control_flow and not is_control_flow(exc):
        span.set_attribute(semconv.ERROR_TYPE, type(exc).__qualname__)
        span.record_exception(exc)
        span.set_status(Status(StatusCode.ERROR, f"{type(exc).__qualname__}: {exc}"[:512]))
    span.end()


class trajectory:  # noqa: N801 - used as a lower-case context manager like contextlib's
    """Mark an agent run as one trace with an ``invoke_agent {name}`` root span.

    Usable as ``with`` or ``async with``. Model calls, tool calls and retrievals inside it get
    ``agent.trajectory.step`` 1, 2, 3, ... A trajectory opened inside another one becomes a child
    span and keeps counting the outer run's steps.

    Example:
        >>> with agentwatch.trajectory("support-agent", session_id="s-42"):
        ...     client.chat.completions.create(model="smollm2", messages=[...])
    """

    def __init__(self, name: str, *, session_id: str | None = None) -> None:
        self.name = name
        self.session_id = session_id
        self.run: Run | None = None
        self._span: Span | None = None
        self._context_token: object | None = None
        self._run_token: Token[Run | None] | None = None

    def __enter__(self) -> Run:
        outer = _current_run.get()
        run = outer if outer is not None else Run(name=self.name, session_id=self.session_id)
        try:
            span = start_agent_span(self.name, self.session_id)
            self._span = span
            if outer is None:
                run.span = span
            self._context_token = otel_context.attach(trace.set_span_in_context(span))
        except Exception as exc:  # noqa: BLE001
            report_fault("trajectory.start", exc)
        self.run = run
        self._run_token = _current_run.set(run)
        return run

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._run_token is not None:
            _current_run.reset(self._run_token)
            self._run_token = None
        span, self._span = self._span, None
        try:
            if self._context_token is not None:
                otel_context.detach(self._context_token)  # type: ignore[arg-type]
                self._context_token = None
            if span is not None:
                end_agent_span(span, self.run, exc)
        except Exception as fault:  # noqa: BLE001
            report_fault("trajectory.end", fault)

    async def __aenter__(self) -> Run:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)
