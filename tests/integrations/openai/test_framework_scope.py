"""A framework that traces a model call itself gets one chat span, not two."""

from __future__ import annotations

from typing import Any

import pytest

from _local import HELLO, MODEL, sync_client
from _spans import attributes_of
from agentwatch import semconv
from agentwatch._call import ModelCall, framework_call, framework_call_scope

pytestmark = pytest.mark.usefixtures("instrumented")

KWARGS: dict[str, Any] = {"model": MODEL, "messages": HELLO, "max_tokens": 16, "temperature": 0.0, "seed": 7}


def test_sdk_call_inside_framework_call_adds_no_span(exporter: Any, replay: Any) -> None:
    outer = ModelCall(semconv.OPERATION_CHAT, MODEL, [(semconv.GEN_AI_REQUEST_MODEL, MODEL)])
    with replay("chat"):
        with framework_call_scope(outer):
            sync_client().chat.completions.create(**KWARGS)
        outer.end()
        assert framework_call() is None
        sync_client().chat.completions.create(**KWARGS)

    spans = exporter.get_finished_spans()
    assert [span.name for span in spans] == [f"chat {MODEL}", f"chat {MODEL}"]
    framework_span, direct_span = spans
    assert attributes_of(framework_span)[semconv.SERVER_ADDRESS] == "127.0.0.1"
    assert attributes_of(framework_span)[semconv.SERVER_PORT] == 8080
    assert semconv.GEN_AI_RESPONSE_ID not in attributes_of(framework_span)
    assert semconv.GEN_AI_RESPONSE_ID in attributes_of(direct_span)
