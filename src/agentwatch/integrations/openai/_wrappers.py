"""The wrappers around OpenAI resource methods.

Each wrapper: pass through when agentwatch is off or already inside a traced call; start the span
(guarded); run the user's call with the span current; hand the result to ``handle_result``
(guarded). The guard sits outside the ``try`` around the user's call, so a fault of ours is never
reported as an API error and the user's own exception always propagates unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from opentelemetry import trace

from ... import semconv
from ..._call import ModelCall, framework_call, tracing_suppressed
from ..._guard import call_guarded
from ..._messages import evidence_from_messages
from ..._state import STATE
from ..._trajectory import Run
from ...governance._enforce import (
    FallbackPlan,
    GuardrailViolation,
    blocked_chat_completion,
    plan_fallback,
    plan_retry,
)
from ...governance._inline import StepRecord
from ._buffer import blocked_stream, buffered_async, buffered_sync, buffers
from ._extract import Answer, Pairs, base_url_of, given, provider_name, server_attributes
from ._guardrails import check_input
from ._mirror import maybe_mirror
from ._policy import (
    apply_route_timeout,
    fallback_attributes,
    fallback_links,
    fallback_target,
    original_function,
    outcome_for_verdict,
    plan_for_error,
)
from ._response import handle_result
from ._stream import StreamAccumulator

# Set while a traced call runs, so an SDK method that calls another patched one is traced once.
_inside_call: ContextVar[bool] = ContextVar("agentwatch_openai_call", default=False)


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
            call.record = _step_record(endpoint, kwargs)
        return call
    if fallback is None:
        # Everything that can fail on an odd request runs above, before the span exists.
        call = ModelCall(endpoint.operation, model, attributes.items())
        call.acts = True
    else:
        failed, plan = fallback
        attributes.update(fallback_attributes(failed, plan))
        call = ModelCall(
            endpoint.operation,
            model,
            attributes.items(),
            run=failed.run,
            step=failed.step,
            links=fallback_links(failed),
        )
        call.fallback_attempt = plan.attempt
        if STATE.inline is not None and endpoint.operation == semconv.OPERATION_CHAT:
            call.record = _step_record(endpoint, kwargs)
        return call
    if endpoint.messages_param and not call.run.implicit:
        call_guarded(
            "openai.evidence", _keep_evidence, call, kwargs.get(endpoint.messages_param), default=None
        )
    if STATE.inline is not None and endpoint.operation == semconv.OPERATION_CHAT:
        call.record = _step_record(endpoint, kwargs)
    return call


def _step_record(endpoint: Endpoint, kwargs: Mapping[str, Any]) -> StepRecord:
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


def _pass_through(instance: Any) -> bool:
    """Return True when this SDK call must not start a span of its own."""
    if not STATE.active or _inside_call.get() or tracing_suppressed():
        return True
    outer = framework_call()
    if outer is None:
        return False
    # A framework already traces this model call: give its span the server we are calling.
    call_guarded("openai.framework", outer.set_attributes, server_attributes(instance), default=None)
    return True


def _abandon(call: ModelCall | None) -> None:
    if call is not None and not call.ended:
        call.end()


@dataclass
class _Early:
    """The input guardrails' decision, made before the model call."""

    action: str | None  # "raise", "block" or "fallback" stop the call; None lets it go on
    kwargs: dict[str, Any]
    check: str = ""
    reason: str = ""
    plan: FallbackPlan | None = None
    stream: bool = False


def _before_call(endpoint: Endpoint, call: ModelCall, kwargs: dict[str, Any]) -> _Early:
    if STATE.guardrails is None or endpoint.messages_param is None:
        return _Early(None, kwargs)
    decision = call_guarded("guardrails.input", check_input, call, kwargs, default=None)
    if decision is None:
        return _Early(None, kwargs)
    call.redactor = decision.redactor
    if decision.kwargs is not None and STATE.capture_content:
        # Record what the model saw: the messages with placeholders, not the redacted values.
        call.set_attributes(endpoint.request(decision.kwargs, True))
    early = _Early(None, decision.kwargs or kwargs, decision.check, decision.reason)
    early.stream = bool(given(kwargs, "stream"))
    if decision.action in ("raise", "block"):
        early.action = decision.action
    elif decision.action == "fallback":
        early.plan = call_guarded(
            "policy.fallback", plan_fallback, call, "guardrail", f"guardrail:{decision.check}", default=None
        )
        early.action = "fallback" if early.plan is not None else None
    return early


def _early_answer(call: ModelCall, early: _Early, instance: Any, end: bool = True) -> Any:
    """End the call without asking the model: raise, or answer with a content-filter notice.

    A blocked streamed request gets a stream of one content-filter chunk. ``end`` is False for a
    framework's span, which the framework ends itself.
    """
    if end:
        call_guarded("openai.response", call.end, default=None)
    if early.action == "block":
        model = call.metric_attributes.get(semconv.GEN_AI_REQUEST_MODEL)
        if not early.stream:
            return blocked_chat_completion(str(model) if model else None, early.check, early.reason)
        stream = call_guarded(
            "openai.response", blocked_stream, instance, model, early.check, early.reason, default=None
        )
        if stream is not None:
            return stream
    raise GuardrailViolation(early.check, early.reason, "input")


def governed_framework_call() -> ModelCall | None:
    """Return the framework's call when a policy must act on the SDK call made inside it."""
    if STATE.policy is None or not STATE.active or tracing_suppressed() or _inside_call.get():
        return None
    return framework_call()


def _finish_attempt(endpoint: Endpoint, call: ModelCall, result: Any) -> Any:
    traced = call_guarded("openai.response", handle_result, endpoint, call, result, default=None)
    if traced is None:
        call_guarded("openai.response", _abandon, call, default=None)
        return result
    return traced


def sync_wrapper(endpoint: Endpoint) -> Callable[..., Any]:
    def wrapper(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        outer = governed_framework_call()
        if outer is not None and endpoint.messages_param is not None:
            from ._framework import framework_sync  # it imports this module

            return framework_sync(endpoint, outer, wrapped, instance, args, kwargs)
        if _pass_through(instance):
            return wrapped(*args, **kwargs)
        call = call_guarded("openai.request", start_call, endpoint, instance, kwargs, default=None)
        if call is None:
            return wrapped(*args, **kwargs)
        if STATE.policy is not None:
            kwargs = apply_route_timeout(kwargs, call)
            early = _before_call(endpoint, call, kwargs)
            if early.action == "fallback" and early.plan is not None:
                call_guarded("openai.response", call.end, default=None)
                return _reissue_sync(endpoint, early.plan, call, wrapped, instance, args, kwargs, None, None)
            if early.action is not None:
                return _early_answer(call, early, instance)
            kwargs = early.kwargs

        plan = None
        token = _inside_call.set(True)
        try:
            with call.activated():
                result = wrapped(*args, **kwargs)
        except BaseException as exc:
            plan = call_guarded("policy.fallback", plan_for_error, call, exc, default=None)
            call_guarded("openai.error", call.end_for_exception, exc, default=None)
            if plan is None:
                raise
            error = exc
        finally:
            _inside_call.reset(token)
        if plan is not None:
            return _reissue_sync(endpoint, plan, call, wrapped, instance, args, kwargs, error, None)
        if STATE.policy is not None and buffers(call, kwargs, result):
            return buffered_sync(endpoint, call, wrapped, instance, args, kwargs, result)

        traced = _finish_attempt(endpoint, call, result)
        if STATE.mirror_worker is not None:
            call_guarded("openai.mirror", maybe_mirror, endpoint, call, instance, kwargs, default=None)
        outcome, value = outcome_for_verdict(call, traced, kwargs)
        if outcome == "raise":
            raise value
        if outcome == "fallback":
            return _reissue_sync(endpoint, value, call, wrapped, instance, args, kwargs, None, traced)
        return value

    return wrapper


def _start_reissue(
    endpoint: Endpoint, plan: FallbackPlan, failed: ModelCall, instance: Any, kwargs: dict[str, Any]
) -> tuple[Any, dict[str, Any], ModelCall | None]:
    """Return the approved route's resource, the request for it, and the traced attempt."""
    resource, new_kwargs = fallback_target(instance, kwargs, plan)
    call = call_guarded(
        "openai.request", start_call, endpoint, resource, new_kwargs, (failed, plan), default=None
    )
    return resource, new_kwargs, call


def _reissue_failed(call: ModelCall | None, exc: Exception, error: BaseException | None, answer: Any) -> Any:
    """End a failed fallback attempt; return the exception the caller gets, or None for ``answer``."""
    if call is not None:
        call_guarded("openai.error", call.end_for_exception, exc, default=None)
    if error is not None:
        return error  # the first attempt's exception, as the caller would have seen it
    return exc if answer is None else None  # with nothing answered before, the fallback's error


def _reissue_sync(
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
        resource, new_kwargs, call = _start_reissue(endpoint, plan, failed, instance, kwargs)
        try:
            if call is None:
                return function(resource, *args, **new_kwargs)
            with call.activated():
                result = function(resource, *args, **new_kwargs)
        except Exception as exc:  # noqa: BLE001 - any failure of the fallback gives the first outcome
            retry = (
                None
                if call is None
                else call_guarded("policy.fallback", plan_retry, call, plan, exc, default=None)
            )
            outcome = _reissue_failed(call, exc, error, answer)
            if retry is not None:
                plan = retry
                continue
            if outcome is None:
                return answer
        else:
            return _finish_attempt(endpoint, call, result)
        # Raised outside the except block, so the first attempt's exception keeps its own context.
        raise outcome


def async_wrapper(endpoint: Endpoint) -> Callable[..., Any]:
    async def wrapper(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        outer = governed_framework_call()
        if outer is not None and endpoint.messages_param is not None:
            from ._framework import framework_async  # it imports this module

            return await framework_async(endpoint, outer, wrapped, instance, args, kwargs)
        if _pass_through(instance):
            return await wrapped(*args, **kwargs)
        call = call_guarded("openai.request", start_call, endpoint, instance, kwargs, default=None)
        if call is None:
            return await wrapped(*args, **kwargs)
        if STATE.policy is not None:
            kwargs = apply_route_timeout(kwargs, call)
            early = _before_call(endpoint, call, kwargs)
            if early.action == "fallback" and early.plan is not None:
                call_guarded("openai.response", call.end, default=None)
                return await _reissue_async(
                    endpoint, early.plan, call, wrapped, instance, args, kwargs, None, None
                )
            if early.action is not None:
                return _early_answer(call, early, instance)
            kwargs = early.kwargs

        plan = None
        token = _inside_call.set(True)
        try:
            with call.activated():
                result = await wrapped(*args, **kwargs)
        except BaseException as exc:
            plan = call_guarded("policy.fallback", plan_for_error, call, exc, default=None)
            call_guarded("openai.error", call.end_for_exception, exc, default=None)
            if plan is None:
                raise
            error = exc
        finally:
            _inside_call.reset(token)
        if plan is not None:
            return await _reissue_async(endpoint, plan, call, wrapped, instance, args, kwargs, error, None)
        if STATE.policy is not None and buffers(call, kwargs, result):
            return await buffered_async(endpoint, call, wrapped, instance, args, kwargs, result)

        traced = _finish_attempt(endpoint, call, result)
        if STATE.mirror_worker is not None:
            call_guarded("openai.mirror", maybe_mirror, endpoint, call, instance, kwargs, default=None)
        outcome, value = outcome_for_verdict(call, traced, kwargs)
        if outcome == "raise":
            raise value
        if outcome == "fallback":
            return await _reissue_async(endpoint, value, call, wrapped, instance, args, kwargs, None, traced)
        return value

    return wrapper


async def _reissue_async(
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
    """Re-issue the call on the approved route, awaiting the SDK; see ``_reissue_sync``."""
    function = original_function(wrapped)
    while True:
        resource, new_kwargs, call = _start_reissue(endpoint, plan, failed, instance, kwargs)
        try:
            if call is None:
                return await function(resource, *args, **new_kwargs)
            with call.activated():
                result = await function(resource, *args, **new_kwargs)
        except Exception as exc:  # noqa: BLE001 - any failure of the fallback gives the first outcome
            retry = (
                None
                if call is None
                else call_guarded("policy.fallback", plan_retry, call, plan, exc, default=None)
            )
            outcome = _reissue_failed(call, exc, error, answer)
            if retry is not None:
                plan = retry
                continue
            if outcome is None:
                return answer
        else:
            return _finish_attempt(endpoint, call, result)
        # Raised outside the except block, so the first attempt's exception keeps its own context.
        raise outcome
