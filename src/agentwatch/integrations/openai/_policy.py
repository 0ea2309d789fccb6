"""Policy actions on OpenAI calls: re-issue on the approved route, block, or raise.

The fallback attempt calls the original (unpatched) SDK method on a copy of the user's client
pointed at the approved route, with only ``model`` swapped; it is traced as its own ``chat`` span
with the same step, linked to the failed attempt. If the fallback fails too, the caller gets what
the first attempt gave: its exception, or its answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from opentelemetry import trace

from ... import semconv
from ..._call import ModelCall
from ..._guard import call_guarded
from ..._state import STATE
from ...governance._enforce import (
    FallbackPlan,
    GuardrailViolation,
    blocked_chat_completion,
    is_timeout,
    plan_fallback,
)
from ._extract import given

if TYPE_CHECKING:
    from ._attempt import Endpoint


def plan_for_error(call: ModelCall, exc: BaseException) -> FallbackPlan | None:
    """Plan a fallback for a failed SDK call (error or timeout), if the policy asks for one."""
    if STATE.policy is None or not isinstance(exc, Exception):
        return None
    trigger = "timeout" if is_timeout(exc) else "error"
    return plan_fallback(call, trigger, f"{trigger}:{type(exc).__name__}")


def apply_route_timeout(kwargs: dict[str, Any], call: ModelCall) -> dict[str, Any]:
    """Give the call its route's timeout when the policy falls back on timeouts."""
    policy = STATE.policy
    route_name = call.metric_attributes.get(semconv.ROUTE_NAME)
    if policy is None or route_name is None or "timeout" in kwargs:
        return kwargs
    route = policy.routes.get(str(route_name))
    if (
        route is None
        or route.timeout is None
        or policy.fallback is None
        or "timeout" not in policy.fallback.on
    ):
        return kwargs
    return {**kwargs, "timeout": route.timeout}


def fallback_target(instance: Any, kwargs: dict[str, Any], plan: FallbackPlan) -> tuple[Any, dict[str, Any]]:
    """Return the SDK resource on a client for the approved route, and the request for it."""
    options: dict[str, Any] = {}
    client = instance._client
    if plan.route.base_url:
        options["base_url"] = plan.route.base_url
    api_key = plan.route.api_key()
    if api_key:
        options["api_key"] = api_key
    elif plan.route.base_url and not same_host(plan.route.base_url, str(client.base_url)):
        # Never send the caller's key to another host: a route without api_key_env gets none.
        options["api_key"] = NO_KEY
    new_kwargs = {**kwargs, "model": plan.route.model}
    if plan.route.timeout is not None:
        options["timeout"] = plan.route.timeout
        # A per-request timeout (the failed route's, or the caller's) would win over the client's.
        new_kwargs["timeout"] = plan.route.timeout
    resource = type(instance)(client.with_options(**options))
    return resource, new_kwargs


#: The API key sent to a route on another host that names no api_key_env.
NO_KEY = "agentwatch-no-key"


def same_host(first: str, second: str) -> bool:
    """True when two base URLs name the same scheme, host and port."""
    a, b = urlsplit(first), urlsplit(second)
    return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port)


def fallback_attributes(failed: ModelCall, plan: FallbackPlan) -> dict[str, Any]:
    return {
        semconv.ROUTE_NAME: plan.route.name,
        semconv.FALLBACK_ATTEMPT: plan.attempt,
        semconv.FALLBACK_REASON: plan.reason,
        semconv.FALLBACK_FROM_ROUTE: str(failed.metric_attributes.get(semconv.ROUTE_NAME, "")),
    }


def fallback_links(failed: ModelCall) -> list[trace.Link]:
    return [trace.Link(failed.span.get_span_context())]


def outcome_for_verdict(call: ModelCall, traced: Any, kwargs: dict[str, Any]) -> tuple[str, Any]:
    """Return ``("return", value)``, ``("raise", exc)`` or ``("fallback", plan)`` for a finished call.

    ``traced`` is what the caller would get: a ``ChatCompletion``, or ``with_raw_response``'s
    result, whose blocked stand-in parses to the notice.
    """
    verdict = call.verdict
    if verdict is None:
        return "return", traced
    if verdict.action == "raise":
        return "raise", GuardrailViolation(verdict.check, verdict.reason, "output")
    if verdict.action == "block":
        raw = is_legacy_response(traced)
        completion = traced.parse() if raw else traced
        if not is_chat_completion(completion):
            # No content-filter shape exists for it (a Responses API answer): withhold by raising.
            return "raise", GuardrailViolation(verdict.check, verdict.reason, "output")
        model = given(kwargs, "model")
        blocked = blocked_chat_completion(
            model if isinstance(model, str) else None, verdict.check, verdict.reason, completion.usage
        )
        blocked = _same_kind(completion, blocked)
        return "return", _blocked_raw(traced, blocked) if raw else blocked
    if verdict.plan is not None:
        return "fallback", verdict.plan
    return "return", traced


def _same_kind(completion: Any, blocked: Any) -> Any:
    """Give a blocked ``parse()`` answer its ``ParsedChatCompletion`` type, with ``parsed`` None."""
    from openai.types.chat import ParsedChatCompletion

    if not isinstance(completion, ParsedChatCompletion):
        return blocked
    return as_parsed(blocked, type(completion))


def as_parsed(blocked: Any, kind: Any = None) -> Any:
    """Return ``blocked`` as a ``ParsedChatCompletion`` (of ``kind``), its ``parsed`` None."""
    from openai.types.chat import ParsedChatCompletion

    body = blocked.model_dump()
    for choice in body["choices"]:
        choice["message"]["parsed"] = None
    return (kind or ParsedChatCompletion[object]).model_validate(body)


def _blocked_raw(raw: Any, blocked: Any) -> Any:
    """Make ``raw.parse()`` return the notice: through the SDK's parse cache, keeping the type."""
    cache = getattr(raw, "_parsed_by_type", None)
    if isinstance(cache, dict) and getattr(raw, "_cast_to", None) is not None:
        cache[raw._cast_to] = blocked
        return raw
    return BlockedRawResponse(blocked)


def settle(call: ModelCall, traced: Any, kwargs: dict[str, Any]) -> Any:
    """Return a fallback attempt's answer under its own verdict: it may block or raise, never fall back."""
    outcome, value = call_guarded(
        "policy.output", outcome_for_verdict, call, traced, kwargs, default=("return", traced)
    )
    if outcome == "raise":
        raise value
    return traced if outcome == "fallback" else value


class BlockedRawResponse:
    """Stands in for ``with_raw_response``'s result when the policy withheld the answer."""

    def __init__(self, completion: Any) -> None:
        self._completion = completion
        self.headers: dict[str, str] = {}
        self.status_code = 200

    def parse(self, **_: Any) -> Any:
        return self._completion

    def close(self) -> None:
        """Release nothing: no body was read from the network."""


class _BlockedAsyncStreamingResponse(BlockedRawResponse):
    """The async ``with_streaming_response`` stand-in: ``parse`` and ``close`` are coroutines."""

    async def parse(self, **_: Any) -> Any:
        return self._completion

    async def close(self) -> None:  # type: ignore[override]
        """Release nothing: no body was read from the network."""


def raw_mode(kwargs: dict[str, Any]) -> str | None:
    """Return "raw" for ``with_raw_response``, "stream" for ``with_streaming_response``, else None."""
    headers = kwargs.get("extra_headers")
    if not isinstance(headers, dict):
        return None
    value = headers.get("X-Stainless-Raw-Response")
    if value in ("raw", "true"):
        return "raw"
    return "stream" if value == "stream" else None


def as_requested(completion: Any, kwargs: dict[str, Any], instance: Any) -> Any:
    """Return a blocked completion in the shape the caller's SDK method returns."""
    mode = raw_mode(kwargs)
    if mode == "stream":
        import openai

        if isinstance(getattr(instance, "_client", None), openai.AsyncOpenAI):
            return _BlockedAsyncStreamingResponse(completion)
    return completion if mode is None else BlockedRawResponse(completion)


def is_legacy_response(value: Any) -> bool:
    """True for the result of ``with_raw_response``, whose ``parse()`` the SDK caches."""
    from openai._legacy_response import LegacyAPIResponse

    return isinstance(value, LegacyAPIResponse)


def is_chat_completion(value: Any) -> bool:
    from openai.types.chat import ChatCompletion

    return isinstance(value, ChatCompletion)


def original_function(wrapped: Any) -> Any:
    """Return the unpatched SDK function behind the bound method wrapt passed in."""
    return getattr(wrapped, "__func__", wrapped)


def endpoint_is_chat(endpoint: Endpoint) -> bool:
    return endpoint.operation == semconv.OPERATION_CHAT
