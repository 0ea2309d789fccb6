"""agentwatch: make an LLM agent observable with one line.

>>> import agentwatch
>>> agentwatch.instrument()
>>> with agentwatch.trajectory("support-agent", session_id="s-42"):
...     ...  # OpenAI SDK calls here become steps of one trace
"""

from __future__ import annotations

__version__ = "0.1.0"

from ._instrument import Instrumentation, instrument, uninstrument
from ._tool import tool
from ._trajectory import Evidence, Run, current_run, trajectory
from .governance import (
    EvaluatorRule,
    Fallback,
    GuardrailRule,
    GuardrailViolation,
    Mirror,
    Policy,
    PolicyError,
    Route,
)

__all__ = [
    "EvaluatorRule",
    "Evidence",
    "Fallback",
    "GuardrailRule",
    "GuardrailViolation",
    "Instrumentation",
    "Mirror",
    "Policy",
    "PolicyError",
    "Route",
    "Run",
    "__version__",
    "current_run",
    "instrument",
    "tool",
    "trajectory",
    "uninstrument",
]
