"""Evaluators that score one step of an agent run: groundedness, hallucination, tool selection,
task completion and JSON schema adherence.

Each evaluator is a plain Python object, cheap to construct, thread-safe and reusable. Its
``evaluate(...)`` returns an :class:`EvaluationResult` for any input. An internal fault becomes an
``"error"`` result (under pytest it is re-raised so tests see it), and an evaluator that cannot
decide returns ``"uncertain"``; both have ``passed=False``.

Tiers: ``T0`` rules (always on, microseconds), ``T1`` sentence embeddings from the bundled
all-MiniLM-L6-v2 model (with the ``agentwatch[evaluators]`` extra), ``T2`` an optional LLM judge
that you supply as ``judge(prompt) -> str``.

Example:
    >>> from agentwatch.evaluators import Groundedness
    >>> r = Groundedness().evaluate(output="Refunds are available for 60 days.",
    ...                             context="Refund requests must be filed within 30 days.")
    >>> r.passed
    False
"""

from ._completion import TaskCompletion
from ._embeddings import Embedder, MiniLMEmbedder, default_embedder
from ._groundedness import Groundedness, HallucinationScore, NliModel
from ._judge import JudgeVerdict, JudgeWorker, LLMJudge
from ._result import EvaluationResult, Evaluator
from ._schema import JsonSchemaAdherence
from ._tools import ToolSelectionAccuracy

__all__ = [
    "Embedder",
    "EvaluationResult",
    "Evaluator",
    "Groundedness",
    "HallucinationScore",
    "JsonSchemaAdherence",
    "JudgeVerdict",
    "JudgeWorker",
    "LLMJudge",
    "MiniLMEmbedder",
    "NliModel",
    "TaskCompletion",
    "ToolSelectionAccuracy",
    "default_embedder",
]
