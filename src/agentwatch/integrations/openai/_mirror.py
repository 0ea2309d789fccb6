"""Send a share of chat completions to the policy's mirror route, off the request path.

The mirror call runs on the worker thread with a client of its own, and its span starts a trace
of its own, linked to the primary call's span and marked with ``agentwatch.mirror``. It is
evaluated like the primary, so the report can compare the two routes. Only non-streamed
``chat.completions.create`` calls are mirrored, including those LangChain and LlamaIndex make.
"""

from __future__ import annotations

import random
from typing import Any

import openai
from opentelemetry import trace

from ... import semconv
from ..._call import ModelCall
from ..._guard import call_guarded
from ..._state import STATE
from ._extract import given
from ._policy import NO_KEY, same_host


def maybe_mirror(endpoint: Any, call: ModelCall, instance: Any, kwargs: dict[str, Any]) -> None:
    """Queue a mirror of this call when the policy's fraction picks it."""
    policy = STATE.policy
    worker = STATE.mirror_worker
    if policy is None or policy.mirror is None or worker is None or call.fallback_attempt:
        return
    if (
        given(kwargs, "stream")
        or endpoint.operation != semconv.OPERATION_CHAT
        or endpoint.messages_param is None
    ):
        return
    if random.random() >= policy.mirror.fraction:
        return
    route = policy.routes[policy.mirror.route]
    if call.metric_attributes.get(semconv.ROUTE_NAME) == route.name:
        return
    client = instance._client
    job_kwargs = {**kwargs, "model": route.model}
    headers = job_kwargs.get("extra_headers")
    if isinstance(headers, dict) and "X-Stainless-Raw-Response" in headers:
        # A framework's with_raw_response call: the mirror wants the parsed completion.
        job_kwargs["extra_headers"] = {k: v for k, v in headers.items() if k != "X-Stainless-Raw-Response"}
    link = trace.Link(call.span.get_span_context())
    base_url = route.base_url or str(client.base_url)
    api_key = route.api_key() or (client.api_key if same_host(base_url, str(client.base_url)) else NO_KEY)
    timeout = route.timeout or 60.0
    worker.submit(lambda: _run_mirror(endpoint, base_url, api_key, timeout, job_kwargs, link, call.step))


def _run_mirror(
    endpoint: Any,
    base_url: str,
    api_key: str,
    timeout: float,
    kwargs: dict[str, Any],
    link: trace.Link,
    step: int,
) -> None:
    from ._attempt import inside_call, start_call  # it imports this module through _response

    client = openai.OpenAI(base_url=base_url, api_key=api_key, timeout=timeout, max_retries=0)
    try:
        resource = client.chat.completions
        call = start_call(endpoint, resource, kwargs, mirror_of=(link, step))
        token = inside_call.set(True)  # the patched create must not trace this call again
        try:
            with call.activated():
                result = resource.create(**kwargs)
        except Exception as exc:
            call_guarded("openai.mirror", call.end_for_exception, exc, default=None)
            raise
        finally:
            inside_call.reset(token)
        from ._response import record_response

        record_response(endpoint, call, result)
    finally:
        client.close()
