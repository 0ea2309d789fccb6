"""Process-wide runtime state that the wrappers read on every call.

Wrappers check ``STATE.active`` first, so a bound method cached before ``uninstrument()`` passes
straight through to the SDK afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from opentelemetry import metrics, trace

from . import semconv

if TYPE_CHECKING:
    from ._config import Settings
    from .governance import Policy
    from .governance._inline import InlineEvaluators
    from .governance._mirror import MirrorWorker
    from .guardrails import GuardrailSuite

_SCOPE = "agentwatch"


@dataclass
class Instruments:
    """The metric instruments every model call records into."""

    duration: metrics.Histogram
    token_usage: metrics.Histogram
    time_to_first_chunk: metrics.Histogram
    fallbacks: metrics.Counter
    guardrail_actions: metrics.Counter


def _make_instruments(meter: metrics.Meter) -> Instruments:
    return Instruments(
        duration=meter.create_histogram(
            semconv.METRIC_OPERATION_DURATION, unit="s", description="GenAI operation duration."
        ),
        token_usage=meter.create_histogram(
            semconv.METRIC_TOKEN_USAGE, unit="{token}", description="Tokens used per call."
        ),
        time_to_first_chunk=meter.create_histogram(
            semconv.METRIC_TIME_TO_FIRST_CHUNK,
            unit="s",
            description="Time from request to the first streamed chunk.",
        ),
        fallbacks=meter.create_counter(
            semconv.METRIC_FALLBACKS, unit="{call}", description="Calls re-issued on an approved route."
        ),
        guardrail_actions=meter.create_counter(
            semconv.METRIC_GUARDRAIL_ACTIONS, unit="{check}", description="Guardrail checks that fired."
        ),
    )


class State:
    """What the integrations need at call time: tracer, instruments, switches."""

    def __init__(self) -> None:
        self.active = False
        self.capture_content = False
        self.settings: Settings | None = None
        self.tracer: trace.Tracer = trace.get_tracer(_SCOPE)
        self.instruments: Instruments = _make_instruments(metrics.get_meter(_SCOPE))
        self.policy: Policy | None = None
        self.inline: InlineEvaluators | None = None  # None when the policy names no evaluator
        self.mirror_worker: MirrorWorker | None = None  # None when the policy mirrors nothing
        self.evaluation_worker: MirrorWorker | None = None  # runs flag-only evaluations
        self.guardrails: GuardrailSuite | None = None  # None when the policy names no guardrail

    def activate(
        self,
        settings: Settings,
        tracer_provider: trace.TracerProvider,
        meter_provider: metrics.MeterProvider,
        policy: Policy | None = None,
    ) -> None:
        from . import __version__

        self.settings = settings
        self.capture_content = settings.capture_content
        self.tracer = tracer_provider.get_tracer(_SCOPE, __version__)
        meter = meter_provider.get_meter(_SCOPE, __version__)
        self.instruments = _make_instruments(meter)
        self.policy = policy
        self.inline = None
        if policy is not None and policy.evaluators:
            from .governance._inline import InlineEvaluators

            self.inline = InlineEvaluators(policy, meter)
            if not self.inline.enforcing:
                from .governance._mirror import MirrorWorker

                # A full queue makes the step evaluate inline, so nothing is dropped or counted.
                self.evaluation_worker = MirrorWorker(
                    meter, max_pending=256, name="agentwatch-evaluation", dropped_metric=None
                )
        self.guardrails = None
        if policy is not None and policy.guardrails:
            from .guardrails import GuardrailSuite

            rules = policy.guardrails
            self.guardrails = GuardrailSuite(
                rules,
                timeouts_ms={rule.name: rule.timeout_ms for rule in rules if rule.timeout_ms is not None},
                fail_closed={rule.name: rule.fail == "closed" for rule in rules if rule.fail is not None},
            )
        if policy is not None and policy.mirror is not None and policy.mirror.fraction > 0:
            from .governance._mirror import MirrorWorker

            self.mirror_worker = MirrorWorker(meter)
        self.active = True

    def deactivate(self) -> None:
        self.active = False
        if self.inline is not None:
            self.inline.close()
        self.inline = None
        self.policy = None
        self.guardrails = None
        for worker in (self.mirror_worker, self.evaluation_worker):
            if worker is not None:
                worker.stop()
        self.mirror_worker = self.evaluation_worker = None


STATE = State()
