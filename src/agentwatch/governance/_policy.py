"""The policy: which model routes exist, which evaluators and guardrails run, what a failure does.

Python and TOML carry the same fields. Every check runs when the policy is built, so a bad policy
fails at ``instrument()`` with an error that names the bad value and lists the valid ones, and
nothing is half-applied.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

EVALUATOR_NAMES = ("groundedness", "hallucination", "tool_selection", "task_completion", "json_schema")
GUARDRAIL_NAMES = ("pii", "secrets", "prompt_injection", "blocked_topics", "json_schema", "groundedness")
JUDGED_EVALUATORS = ("groundedness", "task_completion")
EVALUATOR_ACTIONS = ("flag", "block", "raise", "fallback")
GUARDRAIL_ACTIONS = ("flag", "redact", "block", "raise", "fallback")
STAGES = ("input", "output")
FALLBACK_TRIGGERS = ("error", "timeout", "eval_fail", "guardrail")
FAIL_MODES = ("open", "closed")
_SECTIONS = ("routes", "evaluators", "guardrails", "fallback", "mirror", "buffer_streams")


class PolicyError(ValueError):
    """A policy that cannot be applied; the message names the bad value and the valid ones."""


def _choice(kind: str, value: object, valid: Iterable[str]) -> str:
    options = tuple(valid)
    if not isinstance(value, str) or value not in options:
        raise PolicyError(f"Unknown {kind} {value!r}. Valid {kind}s: {', '.join(options)}.")
    return value


def _number(where: str, value: object, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise PolicyError(f"Invalid {where} {value!r}: expected a number from {low:g} to {high:g}.")
    if not low <= value <= high:
        raise PolicyError(f"Invalid {where} {value!r}: must be from {low:g} to {high:g}.")
    return float(value)


def _known_keys(where: str, data: Mapping[str, Any], valid: Iterable[str]) -> None:
    options = tuple(valid)
    for key in data:
        if key not in options:
            hint = ""
            if key == "buffer_streams":
                # TOML puts a key written after a [table] header into that table.
                hint = " buffer_streams is a top-level key: put it at the top of the file, before any table."
            raise PolicyError(f"Unknown field {key!r} in {where}. Valid fields: {', '.join(options)}.{hint}")


@dataclass(frozen=True)
class Route:
    """A model endpoint named in the policy, matched to calls by model and base URL."""

    name: str
    model: str
    base_url: str | None = None
    api_key_env: str | None = None
    approved: bool = False
    timeout: float | None = None
    input_price_per_million: float | None = None
    output_price_per_million: float | None = None

    def __post_init__(self) -> None:
        if not self.name or not isinstance(self.name, str):
            raise PolicyError(f"Invalid route name {self.name!r}: expected a non-empty string.")
        if not isinstance(self.model, str) or not self.model:
            raise PolicyError(f"Route {self.name!r} needs a model (a non-empty string), got {self.model!r}.")
        if self.timeout is not None:
            _number(f"timeout of route {self.name!r}", self.timeout, 0.001, 3600)
        for label in ("input_price_per_million", "output_price_per_million"):
            value = getattr(self, label)
            if value is not None:
                _number(f"{label} of route {self.name!r}", value, 0, 1e6)

    def matches(self, model: str | None, base_url: str | None) -> bool:
        """Return True when a call to ``model`` at ``base_url`` belongs to this route."""
        if model != self.model:
            return False
        if self.base_url is None:
            return True
        return base_url is not None and base_url.rstrip("/") == self.base_url.rstrip("/")

    def api_key(self) -> str | None:
        """Read the route's API key from its environment variable, if it names one."""
        return os.environ.get(self.api_key_env) if self.api_key_env else None


@dataclass(frozen=True)
class EvaluatorRule:
    """One inline evaluator: threshold (None keeps the evaluator's default), failure action, and
    an optional LLM judge (T2) on a policy route for a sampled share of steps, off the request path.
    """

    name: str
    threshold: float | None = None
    on_fail: str = "flag"
    judge: str | None = None  # a route name
    judge_sample: float = 0.1

    def __post_init__(self) -> None:
        _choice("evaluator", self.name, EVALUATOR_NAMES)
        _choice("action", self.on_fail, EVALUATOR_ACTIONS)
        if self.threshold is not None:
            _number(f"threshold of evaluator {self.name!r}", self.threshold, 0, 1)
        _number(f"judge_sample of evaluator {self.name!r}", self.judge_sample, 0, 1)
        if self.judge is not None and self.name not in JUDGED_EVALUATORS:
            raise PolicyError(
                f"Evaluator {self.name!r} has no LLM judge. Evaluators with a judge: "
                f"{', '.join(JUDGED_EVALUATORS)}."
            )


@dataclass(frozen=True)
class GuardrailRule:
    """One guardrail check at a stage, with the action taken when it fires."""

    name: str
    stage: str = "input"
    action: str = "flag"
    topics: tuple[str, ...] = ()
    timeout_ms: float | None = None  # None keeps the check's default budget
    fail: str | None = None  # "open" or "closed" for a check that timed out or errored

    def __post_init__(self) -> None:
        _choice("guardrail", self.name, GUARDRAIL_NAMES)
        _choice("stage", self.stage, STAGES)
        _choice("action", self.action, GUARDRAIL_ACTIONS)
        if self.timeout_ms is not None:
            _number(f"timeout_ms of guardrail {self.name!r}", self.timeout_ms, 0, 600_000)
        if self.fail is not None and self.fail not in FAIL_MODES:
            raise PolicyError(
                f"Unknown fail mode {self.fail!r} for guardrail {self.name!r}. "
                f"Valid fail modes: {', '.join(FAIL_MODES)}."
            )


@dataclass(frozen=True)
class Fallback:
    """The fallback: the route a failed call is re-issued on, the triggers, and the attempts."""

    to: str
    on: tuple[str, ...] = ("error", "timeout")
    max_attempts: int = 1

    def __post_init__(self) -> None:
        for trigger in self.on:
            _choice("fallback trigger", trigger, FALLBACK_TRIGGERS)
        if (
            isinstance(self.max_attempts, bool)
            or not isinstance(self.max_attempts, int)
            or not 1 <= self.max_attempts <= 5
        ):
            raise PolicyError(
                f"Invalid fallback max_attempts {self.max_attempts!r}: expected an integer from 1 to 5."
            )


@dataclass(frozen=True)
class Mirror:
    """A share of calls also sent to a candidate route, off the request path."""

    route: str
    fraction: float = 0.0

    def __post_init__(self) -> None:
        _number("mirror fraction", self.fraction, 0, 1)


@dataclass(frozen=True)
class Policy:
    """Routes, inline evaluators, guardrails, fallback and mirroring for ``instrument(policy=...)``.

    Example:
        >>> policy = Policy(
        ...     routes={"local": Route("local", "smollm2", base_url="http://127.0.0.1:8080/v1")},
        ...     evaluators=(EvaluatorRule("groundedness", threshold=0.8),),
        ... )
    """

    routes: Mapping[str, Route] = field(default_factory=dict)
    evaluators: tuple[EvaluatorRule, ...] = ()
    guardrails: tuple[GuardrailRule, ...] = ()
    fallback: Fallback | None = None
    mirror: Mirror | None = None
    # Read a streamed chat answer to its end before the caller gets it, so output guardrails and
    # failed evaluations can act on it; the caller then receives the chunks all at once.
    buffer_streams: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.buffer_streams, bool):
            raise PolicyError(f"Invalid buffer_streams {self.buffer_streams!r}: expected true or false.")
        for key, route in self.routes.items():
            if key != route.name:
                raise PolicyError(f"Route {route.name!r} is stored under the key {key!r}; use the same name.")
        names = tuple(self.routes)
        if self.fallback is not None:
            target = self.routes.get(_choice("route", self.fallback.to, names)) if names else None
            if target is None:
                raise PolicyError(
                    f"Unknown route {self.fallback.to!r} in [fallback]. Valid routes: none defined."
                )
            if not target.approved:
                approved = [route.name for route in self.routes.values() if route.approved]
                raise PolicyError(
                    f"Fallback route {target.name!r} is not approved. Set approved = true on it, or fall "
                    f"back to an approved route: {', '.join(approved) or 'none defined'}."
                )
        if self.mirror is not None:
            if not names:
                raise PolicyError(
                    f"Unknown route {self.mirror.route!r} in [mirror]. Valid routes: none defined."
                )
            _choice("route", self.mirror.route, names)
        budgets: dict[str, tuple[float | None, str | None]] = {}
        for guardrail in self.guardrails:
            settings = (guardrail.timeout_ms, guardrail.fail)
            if budgets.setdefault(guardrail.name, settings) != settings:
                raise PolicyError(
                    f"Guardrail {guardrail.name!r} has two different timeout_ms or fail settings; "
                    "a check has one budget and one fail mode for both stages."
                )
        seen: set[str] = set()
        for rule in self.evaluators:
            if rule.name in seen:
                raise PolicyError(f"Evaluator {rule.name!r} is listed twice; keep one [[evaluators]] entry.")
            seen.add(rule.name)
            if rule.judge is not None:
                if not names:
                    raise PolicyError(
                        f"Unknown route {rule.judge!r} for the judge of {rule.name!r}. "
                        "Valid routes: none defined."
                    )
                _choice("route", rule.judge, names)
            if rule.on_fail == "fallback":
                self._check_trigger(f"Evaluator {rule.name!r} has on_fail = 'fallback'", "eval_fail")
        for guardrail in self.guardrails:
            if guardrail.action == "fallback":
                self._check_trigger(f"Guardrail {guardrail.name!r} has action = 'fallback'", "guardrail")

    def _check_trigger(self, what: str, trigger: str) -> None:
        """Fail when an action asks for a fallback the [fallback] section would never make."""
        if self.fallback is None:
            raise PolicyError(f"{what} but the policy has no [fallback]. Add a [fallback] section.")
        if trigger not in self.fallback.on:
            listed = ", ".join(repr(name) for name in self.fallback.on) or "nothing"
            raise PolicyError(
                f"{what} but [fallback] on lists {listed}, not {trigger!r}. Add {trigger!r} to on, "
                "or choose another action."
            )

    def route_for(self, model: str | None, base_url: str | None) -> Route | None:
        """Return the route a call belongs to: the one naming its base URL first, then by model."""
        by_model = None
        for route in self.routes.values():
            if route.matches(model, base_url):
                if route.base_url is not None:
                    return route
                by_model = by_model or route
        return by_model

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Policy:
        """Build a policy from the TOML layout (a mapping of sections)."""
        if not isinstance(data, Mapping):
            raise PolicyError(f"Invalid policy {data!r}: expected a mapping of sections.")
        _known_keys("the policy", data, _SECTIONS)
        routes = {}
        for name, body in (data.get("routes") or {}).items():
            if not isinstance(body, Mapping):
                raise PolicyError(f"Invalid [routes.{name}]: expected a table of fields.")
            _known_keys(f"[routes.{name}]", body, Route.__dataclass_fields__)
            routes[name] = Route(name=name, **{k: v for k, v in body.items() if k != "name"})
        evaluators = tuple(
            _rule(EvaluatorRule, "[[evaluators]]", item) for item in data.get("evaluators") or ()
        )
        guardrails = tuple(_guardrail(item) for item in data.get("guardrails") or ())
        fallback = data.get("fallback")
        mirror = data.get("mirror")
        return cls(
            routes=routes,
            evaluators=evaluators,
            guardrails=guardrails,
            fallback=_fallback(fallback) if fallback is not None else None,
            mirror=_rule(Mirror, "[mirror]", mirror) if mirror is not None else None,
            buffer_streams=data.get("buffer_streams", False),
        )

    @classmethod
    def from_toml(cls, path: str | os.PathLike[str]) -> Policy:
        """Read a policy file; a missing file or invalid TOML is a PolicyError naming the path."""
        policy_path = Path(path)
        try:
            data = tomllib.loads(policy_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise PolicyError(
                f"Policy file not found: {policy_path}. Check the path or AGENTWATCH_POLICY."
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise PolicyError(f"Cannot read policy file {policy_path}: {exc}.") from None
        except tomllib.TOMLDecodeError as exc:
            raise PolicyError(f"Invalid TOML in policy file {policy_path}: {exc}.") from None
        return cls.from_dict(data)


def _rule(kind: type[Any], where: str, body: object) -> Any:
    if not isinstance(body, Mapping):
        raise PolicyError(f"Invalid {where} entry {body!r}: expected a table of fields.")
    _known_keys(where, body, kind.__dataclass_fields__)
    return kind(**body)


def _guardrail(body: object) -> GuardrailRule:
    if isinstance(body, Mapping) and "topics" in body:
        body = {**body, "topics": tuple(body["topics"])}
    rule: GuardrailRule = _rule(GuardrailRule, "[[guardrails]]", body)
    return rule


def _fallback(body: object) -> Fallback:
    if isinstance(body, Mapping) and "on" in body:
        body = {**body, "on": tuple(body["on"])}
    rule: Fallback = _rule(Fallback, "[fallback]", body)
    return rule


def load_policy(policy: Policy | str | os.PathLike[str] | None) -> Policy | None:
    """Resolve ``instrument(policy=...)``: a Policy, a TOML path, else ``AGENTWATCH_POLICY``."""
    if policy is None:
        path = os.environ.get("AGENTWATCH_POLICY", "").strip()
        return Policy.from_toml(path) if path else None
    if isinstance(policy, Policy):
        return policy
    if isinstance(policy, (str, os.PathLike)):
        return Policy.from_toml(policy)
    raise PolicyError(
        f"Invalid policy {policy!r}: pass an agentwatch.Policy, a path to a TOML policy, or None."
    )
