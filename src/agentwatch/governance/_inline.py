"""Inline evaluation: run the policy's evaluators on each step as it ends.

Groundedness and hallucination judge a model answer against the run's evidence (tool results,
retrieved documents, context found in the messages); tool selection judges a step that calls
tools against the offered schemas; JSON-schema adherence judges an answer requested with a
``json_schema`` response format; task completion judges the end of a run. Each result becomes a
``gen_ai.evaluation.result`` event on the evaluated span, and failures feed a counter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from opentelemetry import metrics, trace
from opentelemetry.trace import Span

from .. import semconv
from .._call import untraced
from .._cooperate import background
from .._guard import call_guarded
from .._messages import content_text, evidence_from_messages
from .._messages import field as read
from .._state import STATE
from ..evaluators import (
    EvaluationResult,
    Evaluator,
    Groundedness,
    HallucinationScore,
    JsonSchemaAdherence,
    JudgeWorker,
    LLMJudge,
    TaskCompletion,
    ToolSelectionAccuracy,
)
from ._enforce import decide_after_evaluations
from ._policy import EvaluatorRule, Policy, Route

if TYPE_CHECKING:
    from .._call import ModelCall
    from .._trajectory import Run

_FACTORIES: dict[str, type[Evaluator]] = {
    "groundedness": Groundedness,
    "hallucination": HallucinationScore,
    "tool_selection": ToolSelectionAccuracy,
    "task_completion": TaskCompletion,
    "json_schema": JsonSchemaAdherence,
}


@dataclass
class StepRecord:
    """A model step's request and response, kept only while inline evaluators are on."""

    messages: Any = None
    tools: Sequence[Any] = ()
    tool_choice: Any = None
    response_format: Any = None
    output_text: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Evaluation:
    """One result with the rule that produced it."""

    rule: EvaluatorRule
    result: EvaluationResult


def _last_user_text(messages: Any) -> str:
    if isinstance(messages, str):
        return messages
    text = ""
    for message in messages or ():
        if read(message, "role") == "user":
            text = content_text(read(message, "content"))
    return text


def _context_from_messages(messages: Any) -> list[str]:
    return [text for _, text, _ in evidence_from_messages(messages) if text.strip()]


class InlineEvaluators:
    """The evaluator instances a policy names, and the code that runs them on spans."""

    def __init__(self, policy: Policy, meter: metrics.Meter) -> None:
        self.rules = {rule.name: rule for rule in policy.evaluators}
        # Each evaluator has its own evaluate() signature, so they are called by keyword.
        self.evaluators: dict[str, Any] = {}
        for rule in policy.evaluators:
            factory: Any = _FACTORIES[rule.name]
            self.evaluators[rule.name] = (
                factory() if rule.threshold is None else factory(threshold=rule.threshold)
            )
        # LLM judges (T2) per evaluator name: sampled, on a bounded worker, off the request path.
        self.judges: dict[str, tuple[LLMJudge, JudgeWorker, EvaluatorRule]] = {}
        for rule in policy.evaluators:
            if rule.judge is not None:
                worker = JudgeWorker(sample_rate=rule.judge_sample)
                self.judges[rule.name] = (LLMJudge(route_judge(policy.routes[rule.judge])), worker, rule)
        self.failures = meter.create_counter(
            semconv.METRIC_EVALUATION_FAILURES,
            unit="{evaluation}",
            description="Inline evaluations that did not pass, by evaluator, model and route.",
        )

    def __bool__(self) -> bool:
        return bool(self.evaluators)

    def close(self) -> None:
        for _, worker, _ in self.judges.values():
            worker.close()

    def submit_judge(self, name: str, span: Span, request: str, answer: str, context: list[str]) -> None:
        """Queue the LLM judge of evaluator ``name`` for this step, if it has one and is sampled."""
        entry = self.judges.get(name)
        if entry is None or not answer.strip():
            return
        judge, worker, rule = entry
        threshold = rule.threshold if rule.threshold is not None else 0.5
        span_context = span.get_span_context()

        def task() -> EvaluationResult:
            if name == "task_completion":
                return judge.task_completion(request, answer, threshold)
            return judge.groundedness(answer, "\n".join(context), threshold)

        worker.submit(task, lambda result: self._record_judged(span_context, rule, result))

    def _record_judged(self, span_context: Any, rule: EvaluatorRule, result: EvaluationResult) -> None:
        # The evaluated span has usually ended by now: the verdict goes on a child span of it.
        parent = trace.set_span_in_context(trace.NonRecordingSpan(span_context))
        span = STATE.tracer.start_span(
            f"evaluate {rule.name}", context=parent, links=[trace.Link(span_context)]
        )
        try:
            self.record(span, [Evaluation(rule, result)], {}, STATE.capture_content)
        finally:
            span.end()

    @property
    def enforcing(self) -> bool:
        """True when a failed evaluation can change the answer, so evaluation must run inline."""
        return any(rule.on_fail != "flag" for rule in self.rules.values())

    def evaluate_step(
        self, record: StepRecord, evidence: list[str], previous_calls: list[dict[str, Any]]
    ) -> list[Evaluation]:
        """Run every step evaluator that applies to this step."""
        results: list[Evaluation] = []
        context = evidence or _context_from_messages(record.messages)
        answer = record.output_text.strip()
        if answer:
            for name in ("groundedness", "hallucination"):
                evaluator = self.evaluators.get(name)
                if evaluator is not None:
                    results.append(
                        Evaluation(self.rules[name], evaluator.evaluate(output=answer, context=context))
                    )
        selection = self.evaluators.get("tool_selection")
        if selection is not None and record.tool_calls:
            result = selection.evaluate(
                input=_last_user_text(record.messages),
                tools=list(record.tools),
                tool_calls=record.tool_calls,
                tool_choice=record.tool_choice,
                previous_calls=previous_calls,
            )
            results.append(Evaluation(self.rules["tool_selection"], result))
        schema = self.evaluators.get("json_schema")
        if schema is not None and answer and _is_json_schema_format(record.response_format):
            results.append(
                Evaluation(
                    self.rules["json_schema"],
                    schema.evaluate(output=answer, response_format=record.response_format),
                )
            )
        return results

    def evaluate_run(self, request: str, answer: str, messages: Any) -> list[Evaluation]:
        """Run task completion on a finished run, if the policy names it."""
        evaluator = self.evaluators.get("task_completion")
        if evaluator is None:
            return []
        result = evaluator.evaluate(input=request, output=answer, trajectory=messages)
        return [Evaluation(self.rules["task_completion"], result)]

    def record(
        self, span: Span, evaluations: list[Evaluation], metric_attributes: Mapping[str, Any], capture: bool
    ) -> None:
        """Add one ``gen_ai.evaluation.result`` event per result and count the failures."""
        for evaluation in evaluations:
            result = evaluation.result
            attributes: dict[str, Any] = {
                semconv.GEN_AI_EVALUATION_NAME: result.name,
                semconv.GEN_AI_EVALUATION_SCORE_VALUE: float(result.score),
                semconv.GEN_AI_EVALUATION_SCORE_LABEL: result.label,
                semconv.EVALUATION_PASSED: bool(result.passed),
                semconv.EVALUATION_TIER: result.tier,
                semconv.EVALUATION_DURATION_MS: float(result.duration_ms),
                semconv.EVALUATION_ON_FAIL: evaluation.rule.on_fail,
            }
            if result.threshold is not None:
                attributes[semconv.EVALUATION_THRESHOLD] = float(result.threshold)
            # Explanations quote the answer and the evidence, so they follow the content switch.
            if capture and result.reason:
                attributes[semconv.GEN_AI_EVALUATION_EXPLANATION] = result.reason
            span.add_event(semconv.EVENT_EVALUATION_RESULT, attributes)
            if not result.passed:
                self.failures.add(
                    1,
                    {
                        semconv.GEN_AI_EVALUATION_NAME: result.name,
                        **{key: metric_attributes[key] for key in _FAILURE_KEYS if key in metric_attributes},
                    },
                )


_FAILURE_KEYS = (
    semconv.GEN_AI_REQUEST_MODEL,
    semconv.GEN_AI_RESPONSE_MODEL,
    semconv.ROUTE_NAME,
    semconv.SERVER_ADDRESS,
)


def _is_json_schema_format(response_format: Any) -> bool:
    if isinstance(response_format, Mapping):
        return response_format.get("type") == "json_schema"
    return False


def _assistant_message(answer: str, tool_calls: list[dict[str, Any]]) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": answer}
    if tool_calls:
        message["tool_calls"] = [
            {"id": f"call_{index}", "type": "function", "function": dict(call)}
            for index, call in enumerate(tool_calls)
        ]
    return message


@dataclass(frozen=True)
class StepJob:
    """The inputs of a step's evaluation, copied from the run when the step ends."""

    record: StepRecord
    evidence: list[str]
    previous_calls: list[dict[str, Any]]
    run_messages: list[Any] | None  # set for a one-step run, which also gets task completion
    request: str


def _prepare_step(call: ModelCall, record: StepRecord) -> StepJob:
    """Note the step on its run (cheap, on the caller's thread) and copy what evaluation needs."""
    run = call.run
    request = _last_user_text(record.messages)
    messages = [*(record.messages or ()), _assistant_message(record.output_text, record.tool_calls)]
    if run.implicit:
        return StepJob(record, [], [], messages, request)
    with run._lock:
        previous = list(run.tool_calls)
        run.tool_calls.extend(record.tool_calls)
        if request:
            run.last_request = request
        if record.output_text.strip():
            run.last_answer = record.output_text
        run.last_messages = messages
    return StepJob(record, run.evidence_texts(), previous, None, request)


def _run_step(inline: InlineEvaluators, call: ModelCall, job: StepJob) -> None:
    evaluations = inline.evaluate_step(job.record, job.evidence, job.previous_calls)
    if inline.judges:
        context = job.evidence or _context_from_messages(job.record.messages)
        inline.submit_judge("groundedness", call.span, job.request, job.record.output_text, context)
    if job.run_messages is not None:
        evaluations += inline.evaluate_run(job.request, job.record.output_text, job.run_messages)
    inline.record(call.span, evaluations, call.metric_attributes, STATE.capture_content)
    decide_after_evaluations(call, evaluations)


def evaluate_call_end(call: ModelCall, record: StepRecord, extra: Any, end_ns: int) -> bool:
    """Evaluate a model step before its span ends; return True when the worker will end the span.

    With only ``flag`` actions nothing waits for the verdict, so the evaluation runs on the
    background worker and the span ends there, at ``end_ns``. A policy that can act on a
    failure (fallback, block, raise) evaluates here, before the caller gets the answer.
    """
    inline = STATE.inline
    if inline is None:
        return False
    job = _prepare_step(call, record)
    worker = STATE.evaluation_worker
    if worker is not None and not inline.enforcing:

        def evaluate_and_end() -> None:
            try:
                with background():
                    call_guarded("evaluators.step", _run_step, inline, call, job, default=None)
            finally:
                call.finish_deferred(extra, end_ns)

        if worker.submit(evaluate_and_end):
            return True
    _run_step(inline, call, job)
    return False


def evaluate_now(call: ModelCall, record: StepRecord) -> None:
    """Evaluate a model step at once, whatever the policy's actions; the verdict lands on ``call``."""
    inline = STATE.inline
    if inline is not None:
        _run_step(inline, call, _prepare_step(call, record))


def evaluate_run_end(span: Span, run: Run) -> None:
    """Judge task completion of a finished run on its root span."""
    inline = STATE.inline
    if inline is None or run.last_messages is None:
        return
    evaluations = inline.evaluate_run(run.last_request, run.last_answer, run.last_messages)
    inline.record(span, evaluations, {}, STATE.capture_content)
    inline.submit_judge("task_completion", span, run.last_request, run.last_answer, [])


def route_judge(route: Route) -> Any:
    """Return ``judge(prompt) -> str``: the route's model at temperature 0, not traced as a step."""
    import openai

    client = openai.OpenAI(
        base_url=route.base_url,
        api_key=route.api_key() or "not-needed",
        timeout=route.timeout or 60.0,
        max_retries=0,
    )

    def judge(prompt: str) -> str:
        with untraced():
            response = client.chat.completions.create(
                model=route.model,
                messages=[{"role": "user", "content": prompt}],
                temperature=0.0,
                max_tokens=256,
            )
        return response.choices[0].message.content or ""

    return judge
