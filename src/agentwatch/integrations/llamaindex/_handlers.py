"""The span and event handlers registered on LlamaIndex's root instrumentation dispatcher.

Both are thin: they guard each callback and hand it to the shared ``Tracker``. The dispatcher
swallows every exception a handler raises, so the guard is what logs our faults. The span
callbacks use a plain ``try`` instead of ``guarded()``: they run about fifteen times per query.
"""

from __future__ import annotations

import inspect
from typing import Any

from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events import BaseEvent
from llama_index.core.instrumentation.events.exception import ExceptionEvent
from llama_index.core.instrumentation.events.llm import (
    LLMChatEndEvent,
    LLMChatInProgressEvent,
    LLMCompletionEndEvent,
    LLMCompletionInProgressEvent,
)
from llama_index.core.instrumentation.span import BaseSpan
from llama_index.core.instrumentation.span_handlers import BaseSpanHandler
from pydantic import PrivateAttr

from ..._guard import guarded, report_fault
from ..._state import STATE
from ._tracker import Tracker

_PROGRESS_EVENTS = (LLMChatInProgressEvent, LLMCompletionInProgressEvent)
_END_EVENTS = (LLMChatEndEvent, LLMCompletionEndEvent)


class AgentwatchSpanHandler(BaseSpanHandler[BaseSpan]):
    """Open and end OpenTelemetry spans as the dispatcher enters, exits and drops its spans.

    It keeps its own map instead of ``open_spans``, so ``new_span`` and the ``prepare_*`` hooks
    of the base class are never used.
    """

    _tracker: Tracker = PrivateAttr()

    def __init__(self, tracker: Tracker) -> None:
        super().__init__()
        self._tracker = tracker

    @classmethod
    def class_name(cls) -> str:
        return "AgentwatchSpanHandler"

    @property
    def tracker(self) -> Tracker:
        return self._tracker

    def span_enter(
        self,
        id_: str,
        bound_args: inspect.BoundArguments,
        instance: Any | None = None,
        parent_id: str | None = None,
        tags: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if not STATE.active:
            return
        try:
            self._tracker.enter(id_, instance, parent_id, bound_args)
        except Exception as exc:  # noqa: BLE001 - the guard logs our faults; the call goes on
            report_fault("llamaindex.enter", exc)

    def span_exit(
        self,
        id_: str,
        bound_args: inspect.BoundArguments,
        instance: Any | None = None,
        result: Any | None = None,
        **kwargs: Any,
    ) -> None:
        # No STATE.active check: a span opened before uninstrument() still ends.
        try:
            self._tracker.exit(id_, result)
        except Exception as exc:  # noqa: BLE001 - the guard logs our faults; the call goes on
            report_fault("llamaindex.exit", exc)

    def span_drop(
        self,
        id_: str,
        bound_args: inspect.BoundArguments,
        instance: Any | None = None,
        err: BaseException | None = None,
        **kwargs: Any,
    ) -> None:
        try:
            self._tracker.drop(id_, err)
        except Exception as exc:  # noqa: BLE001 - the guard logs our faults; the call goes on
            report_fault("llamaindex.drop", exc)

    def close(self) -> None:
        try:
            self._tracker.close()
        except Exception as exc:  # noqa: BLE001 - the guard logs our faults; the call goes on
            report_fault("llamaindex.close", exc)

    def new_span(
        self,
        id_: str,
        bound_args: inspect.BoundArguments,
        instance: Any | None = None,
        parent_span_id: str | None = None,
        tags: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> BaseSpan | None:
        return None

    def prepare_to_exit_span(
        self,
        id_: str,
        bound_args: inspect.BoundArguments,
        instance: Any | None = None,
        result: Any | None = None,
        **kwargs: Any,
    ) -> BaseSpan | None:
        return None

    def prepare_to_drop_span(
        self,
        id_: str,
        bound_args: inspect.BoundArguments,
        instance: Any | None = None,
        err: BaseException | None = None,
        **kwargs: Any,
    ) -> BaseSpan | None:
        return None


class AgentwatchEventHandler(BaseEventHandler):
    """Follow LLM streams after their span exited: first chunk, end and error."""

    _tracker: Tracker = PrivateAttr()

    def __init__(self, tracker: Tracker) -> None:
        super().__init__()
        self._tracker = tracker

    @classmethod
    def class_name(cls) -> str:
        return "AgentwatchEventHandler"

    @property
    def tracker(self) -> Tracker:
        return self._tracker

    def handle(self, event: BaseEvent, **kwargs: Any) -> None:
        tracker = self._tracker
        if not tracker.streams:
            return
        with guarded("llamaindex.event"):
            if isinstance(event, _PROGRESS_EVENTS):
                tracker.stream_progress(event.span_id)
            elif isinstance(event, _END_EVENTS):
                tracker.stream_end(event.span_id, event.response)
            elif isinstance(event, ExceptionEvent):
                tracker.stream_error(event.span_id, event.exception)
