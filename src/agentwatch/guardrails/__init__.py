"""Guardrails: deterministic checks on a model call's input and output, and reversible redaction.

Every check is plain Python (no model, no OpenTelemetry), takes microseconds on ordinary text,
is thread-safe and reusable, and returns a :class:`GuardrailResult` for any input: an internal
fault becomes an ``"error"`` result (re-raised under pytest so tests see it).

Example:
    >>> from agentwatch.guardrails import PiiGuardrail, Redactor
    >>> PiiGuardrail().check("Card 4111 1111 1111 1111, mail jo@example.com").reason
    'Found PII: card (1), email (1).'
    >>> redactor = Redactor()
    >>> redactor.redact("Mail jo@example.com")
    'Mail <EMAIL_1>'
    >>> redactor.restore("Sent to <EMAIL_1>.")
    'Sent to jo@example.com.'

:class:`GuardrailSuite` runs a policy's :class:`agentwatch.GuardrailRule` list for one stage,
cheapest check first, with a budget and a fail mode per check.
"""

from ._evaluated import GroundednessGuardrail, JsonSchemaGuardrail
from ._injection import SOURCES, PromptInjectionGuardrail
from ._pii import PII_KINDS, PiiGuardrail, iban_valid, luhn_valid
from ._redact import Detector, Redactor
from ._result import MAX_TEXT_CHARS, Guardrail, GuardrailResult, Span
from ._secrets import SecretsGuardrail, shannon_entropy
from ._suite import CHECK_ORDER, DEFAULT_TIMEOUTS_MS, GuardrailOutcome, GuardrailSuite, Verdict
from ._topics import BlockedTopicsGuardrail, stem
from ._unicode import FoldedText, fold

__all__ = [
    "CHECK_ORDER",
    "DEFAULT_TIMEOUTS_MS",
    "MAX_TEXT_CHARS",
    "PII_KINDS",
    "SOURCES",
    "BlockedTopicsGuardrail",
    "Detector",
    "FoldedText",
    "GroundednessGuardrail",
    "Guardrail",
    "GuardrailOutcome",
    "GuardrailResult",
    "GuardrailSuite",
    "JsonSchemaGuardrail",
    "PiiGuardrail",
    "PromptInjectionGuardrail",
    "Redactor",
    "SecretsGuardrail",
    "Span",
    "Verdict",
    "fold",
    "iban_valid",
    "luhn_valid",
    "shannon_entropy",
    "stem",
]
