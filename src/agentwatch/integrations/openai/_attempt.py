"""One attempt of a traced SDK call: its span, and the fallback attempts on the approved route.

``start_call`` starts the span with every request attribute a sampler may need, and
``finish_attempt`` hands the SDK's result to ``handle_result``. ``reissue_sync`` and
``reissue_async`` re-issue a failed call on the approved route, up to the policy's
``max_attempts`` tries, each its own span with the failed call's step.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from openai import AsyncStream, Stream
from opentelemetry import trace

from ... import semconv
from ..._call import ModelCall
from ..._guard import call_guarded
from ..._messages import evidence_from_messages
from ..._state import STATE
from ..._trajectory import Run
from ...governance._enforce import FallbackPlan, GuardrailViolation, plan_retry
from ...governance._inline import StepRecord
from ._extract import Answer, Pairs, base_url_of, given, provider_name, server_attributes
from ._policy import fallback_attributes, fallback_links, fallback_target, original_function, settle
from ._response import handle_result
from ._stream import StreamAccumulator


def buffers(call: ModelCall, kwargs: dict[str, Any], result: Any) -> bool:
    """True when the policy buffers streams and ``result`` is a chat stream of ``call``."""
    policy = STATE.policy
    return (
        policy is not None
        and policy.buffer_streams
        and isinstance(result, (Stream, AsyncStream))
        and call.metric_attributes.get(semconv.GEN_AI_OPERATION_NAME) != semconv.OPERATION_EMBEDDINGS
        and kwargs.get("messages") is not None
    )


# Set while a traced call runs, so an SDK method that calls another patched one is traced once.
inside_call: ContextVar[bool] = ContextVar("agentwatch_openai_call", default=False)


@dataclass(frozen=True)
class Endpoint:
    """How to trace one SDK method."""

    operation: str
    api: str
    request: Callable[[Mapping[str, Any], bool], Pairs]
    response: Callable[[Any, bool], Pairs]
    usage: Callable[[Any], tuple[int | None, int | None]]
    answer: Callable[[Any], Answer]
    accumulator: Callable[[], StreamAccumulator] | None
    messages_param: str | None  # the request parameter whose messages become evidence


def start_call(
    endpoint: Endpoint,
    instance: Any,
    kwargs: Mapping[str, Any],
    fallback: tuple[ModelCall, FallbackPlan] | None = None,
    mirror_of: tuple[trace.Link, int] | None = None,
) -> ModelCall:
    """Start the span of one call, with every request attribute set at start for samplers.

    ``fallback`` names the failed attempt and the plan when this call re-issues it.
    ``mirror_of`` links a mirror call to its primary and gives it the primary's step.
    """
    capture = STATE.capture_content
    model = given(kwargs, "model")
    model = model if isinstance(model, str) else None
    attributes: dict[str, Any] = {
        semconv.GEN_AI_PROVIDER_NAME: provider_name(instance),
        semconv.LLM_PROVIDER: semconv.PROVIDER_OPENAI,
        semconv.OPENAI_API: endpoint.api,
    }
    if model:
        attributes[semconv.GEN_AI_REQUEST_MODEL] = model
    attributes.update(server_attributes(instance))
    policy = STATE.policy
    if policy is not None and policy.routes:
        route = policy.route_for(model, base_url_of(instance))
        if route is not None:
            attributes[semconv.ROUTE_NAME] = route.name
    attributes.update(endpoint.request(kwargs, capture))
    if mirror_of is not None:
        link, step = mirror_of
        attributes[semconv.MIRROR] = True
        call = ModelCall(
            endpoint.operation,
            model,
            attributes.items(),
            run=Run(name="mirror", implicit=True),
            step=step,
            links=[link],
        )
        if STATE.inline is not None:
            call.record = step_record(endpoint, kwargs)
        return call
    if fallback is None:
        # Everything that can fail on an odd request runs above, before the span exists.
        call = ModelCall(endpoint.operation, model, attributes.items())
        call.acts = True
    else:
        failed, plan = fallback
        attributes.update(fallback_attributes(failed, plan))
        parent = None
        if not trace.get_current_span().get_span_context().is_valid:
            # A call outside any run has no parent to share, so the attempt goes under the failed
            # one and the trace holds both.
            parent = trace.set_span_in_context(failed.span)
        call = ModelCall(
            endpoint.operation,
            model,
            attributes.items(),
            run=failed.run,
            context=parent,
            step=failed.step,
            links=fallback_links(failed),
        )
        call.fallback_attempt = plan.attempt
        # The request carries the failed attempt's placeholders, so its answer gets the real values back.
        call.redactor = failed.redactor
        if STATE.inline is not None and endpoint.operation == semconv.OPERATION_CHAT:
            call.record = step_record(endpoint, kwargs)
        return call
    if endpoint.messages_param and not call.run.implicit:
        call_guarded(
            "openai.evidence", _keep_evidence, call, kwargs.get(endpoint.messages_param), default=None
        )
    if STATE.inline is not None and endpoint.operation == semconv.OPERATION_CHAT:
        call.record = step_record(endpoint, kwargs)
    return call


def step_record(endpoint: Endpoint, kwargs: Mapping[str, Any]) -> StepRecord:
    if endpoint.messages_param:
        messages = given(kwargs, endpoint.messages_param)
    else:  # the Responses API: a string or a list of items with role and content
        messages = given(kwargs, "input")
        if isinstance(messages, str):
            messages = [{"role": "user", "content": messages}]
    return StepRecord(
        messages=messages,
        tools=list(given(kwargs, "tools") or ()),
        tool_choice=given(kwargs, "tool_choice"),
        response_format=given(kwargs, "response_format"),
    )


def _keep_evidence(call: ModelCall, messages: Any) -> None:
    for kind, text, source in evidence_from_messages(messages):
        call.run.add_evidence(kind, text, call.step, source)


def abandon(call: ModelCall | None) -> None:
    if call is not None and not call.ended:
        call.end()


def finish_attempt(endpoint: Endpoint, call: ModelCall, result: Any) -> Any:
    traced = call_guarded("openai.response", handle_result, endpoint, call, result, default=None)
    if traced is None:
        call_guarded("openai.response", abandon, call, default=None)
        return result
    return traced


def start_reissue(
    endpoint: Endpoint, plan: FallbackPlan, failed: ModelCall, instance: Any, kwargs: dict[str, Any]
) -> tuple[Any, dict[str, Any], ModelCall | None]:
    """Return the approved route's resource, the request for it, and the traced attempt."""
    resource, new_kwargs = fallback_target(instance, kwargs, plan)
    call = call_guarded(
        "openai.request", start_call, endpoint, resource, new_kwargs, (failed, plan), default=None
    )
    return resource, new_kwargs, call


def reissue_failed(call: ModelCall | None, exc: Exception, error: BaseException | None, answer: Any) -> Any:
    """End a failed fallback attempt; return the exception the caller gets, or None for ``answer``."""
    if call is not None:
        call_guarded("openai.error", call.end_for_exception, exc, default=None)
    if error is not None:
        return error  # the first attempt's exception, as the caller would have seen it
    return exc if answer is None else None  # with nothing answered before, the fallback's error


def reissue_sync(
    endpoint: Endpoint,
    plan: FallbackPlan,
    failed: ModelCall,
    wrapped: Any,
    instance: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    error: BaseException | None,
    answer: Any,
) -> Any:
    """Re-issue the call on the approved route, up to ``max_attempts`` times on errors.

    When every attempt fails, the caller gets the first outcome: its exception, or its answer.
    """
    function = original_function(wrapped)
    while True:
        resource, new_kwargs, call = start_reissue(endpoint, plan, failed, instance, kwargs)
        try:
            if call is None:
                return function(resource, *args, **new_kwargs)
            with call.activated():
                result = function(resource, *args, **new_kwargs)
            if STATE.policy is not None and buffers(call, new_kwargs, result):
                from ._buffer import buffered_sync  # it imports this module

                # Inside the try: a stream that breaks while it is read is a failed attempt too.
                return buffered_sync(endpoint, call, wrapped, instance, args, new_kwargs, result)
        except GuardrailViolation:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure of the fallback gives the first outcome
            retry = (
                None
                if call is None
                else call_guarded("policy.fallback", plan_retry, call, plan, exc, default=None)
            )
            outcome = reissue_failed(call, exc, error, answer)
            if retry is not None:
                plan = retry
                continue
            if outcome is None:
                return answer
        else:
            return settle(call, finish_attempt(endpoint, call, result), new_kwargs)
        # Raised outside the except block, so the first attempt's exception keeps its own context.
        raise outcome


async def reissue_async(
    endpoint: Endpoint,
    plan: FallbackPlan,
    failed: ModelCall,
    wrapped: Any,
    instance: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    error: BaseException | None,
    answer: Any,
) -> Any:
    """Re-issue the call on the approved route, awaiting the SDK; see ``reissue_sync``."""
    function = original_function(wrapped)
    while True:
        resource, new_kwargs, call = start_reissue(endpoint, plan, failed, instance, kwargs)
        try:
            if call is None:
                return await function(resource, *args, **new_kwargs)
            with call.activated():
                result = await function(resource, *args, **new_kwargs)
            if STATE.policy is not None and buffers(call, new_kwargs, result):
                from ._buffer import buffered_async  # it imports this module

                # Inside the try: a stream that breaks while it is read is a failed attempt too.
                return await buffered_async(endpoint, call, wrapped, instance, args, new_kwargs, result)
        except GuardrailViolation:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure of the fallback gives the first outcome
            retry = (
                None
                if call is None
                else call_guarded("policy.fallback", plan_retry, call, plan, exc, default=None)
            )
            outcome = reissue_failed(call, exc, error, answer)
            if retry is not None:
                plan = retry
                continue
            if outcome is None:
                return answer
        else:
            return settle(call, finish_attempt(endpoint, call, result), new_kwargs)
        # Raised outside the except block, so the first attempt's exception keeps its own context.
        raise outcome
