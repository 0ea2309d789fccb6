"""Governance: the policy (routes, evaluators, guardrails, fallback, mirror) and what enforces it."""

from ._enforce import GuardrailViolation
from ._policy import (
    EVALUATOR_NAMES,
    EvaluatorRule,
    Fallback,
    GuardrailRule,
    Mirror,
    Policy,
    PolicyError,
    Route,
    load_policy,
)

__all__ = [
    "EVALUATOR_NAMES",
    "EvaluatorRule",
    "Fallback",
    "GuardrailRule",
    "GuardrailViolation",
    "Mirror",
    "Policy",
    "PolicyError",
    "Route",
    "load_policy",
]

# Both are raised to users; show them under the name they import.
GuardrailViolation.__module__ = "agentwatch"
PolicyError.__module__ = "agentwatch"
