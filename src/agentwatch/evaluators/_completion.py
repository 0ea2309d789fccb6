"""TaskCompletion: did the run end with a real answer to the user's request?"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from ._embeddings import Embedder, resolve_embedder
from ._judge import LLMJudge
from ._lexicon import canonical
from ._result import TIER_LOCAL_MODEL, TIER_RULES, EvaluationResult, Evaluator
from ._text import MAX_OUTPUT_CHARS, STOPWORDS, WORD_RE, coerce_text, normalise

_REFUSAL_RE = re.compile(
    r"^\s*(?:i'?m sorry,?\s+(?:but\s+)?)?(?:i|we)\s+"
    r"(?:can ?not|can't|am unable to|'m unable to|am not able to|won't|will not)\s+"
    r"(?:help|assist|do that|comply|provide|answer|complete)"
    r"|\bas an ai(?: language model)?\b"
    r"|^\s*(?:sorry|apologies)[,.!]?\s+(?:i|we)\s+(?:can ?not|can't|am unable)",
    re.IGNORECASE,
)
_ERROR_RE = re.compile(
    r"^\s*(?:error|exception|traceback \(most recent call last\))\b|\binternal server error\b"
    r"|\b(?:an|unexpected) error (?:has )?occurred\b|\brate limit exceeded\b",
    re.IGNORECASE,
)
_LIMIT_RE = re.compile(
    r"\bstopped due to (?:the )?(?:iteration|time) limit\b"
    r"|\bmax(?:imum)? (?:iterations|turns|steps) (?:reached|exceeded)\b"
    r"|\brecursion limit\b|\bgraphrecursionerror\b",
    re.IGNORECASE,
)
_LIMIT_REASONS = {
    "max_iterations",
    "iteration_limit",
    "recursion_limit",
    "max_turns",
    "max_steps",
    "time_limit",
    "length",
    "max_tokens",
}
_QUANTITY_QUESTION_RE = re.compile(
    r"\b(?:how (?:many|much|long|far|old)|what (?:time|date|year|percentage))\b"
)


def _messages(trajectory: object) -> list[Mapping[str, Any]]:
    if not isinstance(trajectory, Sequence) or isinstance(trajectory, (str, bytes)):
        return []
    return [step for step in trajectory if isinstance(step, Mapping)]


def _unanswered_calls(steps: list[Mapping[str, Any]]) -> list[str]:
    requested: dict[str, str] = {}
    answered: set[str] = set()
    for step in steps:
        for call in step.get("tool_calls") or ():
            if isinstance(call, Mapping) and call.get("id"):
                function = call.get("function")
                name = function.get("name") if isinstance(function, Mapping) else call.get("name")
                requested[str(call["id"])] = str(name or call["id"])
        if step.get("role") == "tool" and step.get("tool_call_id"):
            answered.add(str(step["tool_call_id"]))
    return [name for call_id, name in requested.items() if call_id not in answered]


def _limit_reason(steps: list[Mapping[str, Any]]) -> str | None:
    for step in steps[-2:]:
        for key in ("stop_reason", "finish_reason", "status", "error"):
            value = step.get(key)
            if isinstance(value, str) and (value.lower() in _LIMIT_REASONS or _LIMIT_RE.search(value)):
                return value
    return None


def _final_answer(steps: list[Mapping[str, Any]]) -> object:
    for step in reversed(steps):
        if step.get("role") == "assistant" and not step.get("tool_calls"):
            return step.get("content")
    return None


def _words(text: str) -> set[str]:
    return {
        canonical(word)
        for word in WORD_RE.findall(normalise(text))
        if word not in STOPWORDS and not word[0].isdigit()
    }


class TaskCompletion(Evaluator):
    """Whether a run ended with an answer that completes the request (1 = complete).

    Checks, in order: a final answer exists; it is not a refusal or an error message; no tool
    call in the trajectory was left without a result; the run did not stop on an iteration
    limit; the answer addresses the request (shared words, or embedding similarity with the
    bundled model). With ``judge`` set, an LLM judge gives the final word when every check passes.

    Args:
        threshold: ``passed`` is ``score >= threshold``. Default 0.8.
        judge: an optional ``judge(prompt) -> str`` callable or :class:`LLMJudge` (called
            synchronously; use :class:`JudgeWorker` to run it in the background).
        embedder: ``"auto"``, None or an :class:`Embedder`, as for Groundedness.
        min_similarity: below this request-answer similarity, with no shared word, the answer
            counts as off topic. Default 0.15.
    """

    name = "task_completion"

    def __init__(
        self,
        threshold: float = 0.8,
        *,
        judge: object = None,
        embedder: object = "auto",
        min_similarity: float = 0.15,
    ) -> None:
        super().__init__(threshold)
        self.judge = judge if judge is None or isinstance(judge, LLMJudge) else LLMJudge(judge)  # type: ignore[arg-type]
        self._embedder_choice = embedder
        self._embedder: Embedder | None = None
        self._embedder_resolved = False
        self.min_similarity = min_similarity

    def evaluate(
        self, input: object = None, output: object = None, trajectory: object = None
    ) -> EvaluationResult:
        """Judge the end of a run; ``trajectory`` is the run's chat messages (OpenAI format)."""
        return self._run(lambda: self._check(input, output, trajectory))

    def _fail(self, label: str, reason: str, tier: str = TIER_RULES) -> EvaluationResult:
        return EvaluationResult(self.name, 0.0, False, label, reason, tier=tier, threshold=self.threshold)

    def _check(self, input: object, output: object, trajectory: object) -> EvaluationResult:
        steps = _messages(trajectory)
        if output is None:
            output = _final_answer(steps)
        answer = coerce_text(output, MAX_OUTPUT_CHARS)
        if answer.problem not in (None, "missing"):
            return self.error_result(f"output is {answer.problem}")
        request = coerce_text(input, MAX_OUTPUT_CHARS).text

        limit = _limit_reason(steps)
        if limit is not None or _LIMIT_RE.search(answer.text):
            return self._fail(
                "iteration_limit",
                f"The run stopped on a limit ({limit or answer.text.strip()[:80]}) instead of finishing.",
            )
        unanswered = _unanswered_calls(steps)
        if unanswered:
            return self._fail(
                "unanswered_tool_call",
                f"The run ended with tool calls that never got a result: {', '.join(unanswered)}.",
            )
        if not answer.text.strip():
            return self._fail("no_final_answer", "The run ended without a final answer.")
        if _ERROR_RE.search(answer.text):
            return self._fail("error", "The final answer is an error message, not an answer.")
        if _REFUSAL_RE.search(answer.text):
            return self._fail("refusal", "The final answer declines the request.")
        if not request.strip():
            return self.uncertain_result(
                "No request was given, so whether the answer addresses it cannot be judged."
            )

        tier = TIER_RULES
        shared = _words(request) & _words(answer.text)
        asks_quantity = _QUANTITY_QUESTION_RE.search(normalise(request)) is not None
        has_number = any(char.isdigit() for char in answer.text)
        similarity = None
        embedder = self._get_embedder()
        if embedder is not None:
            vectors = embedder.embed([request, answer.text[:2000]])
            similarity = float(vectors[0] @ vectors[1])
            tier = TIER_LOCAL_MODEL

        if asks_quantity and not has_number and (similarity is None or similarity < 0.5):
            return self._fail(
                "off_topic", "The request asks for a quantity, but the answer gives no number.", tier
            )
        off_topic = not shared and (similarity is None or similarity < self.min_similarity)
        if off_topic:
            return self._fail(
                "off_topic",
                "The answer shares nothing with the request; it does not seem to address it.",
                tier,
            )
        if self.judge is not None:
            return self.judge.task_completion(request, answer.text, self.threshold)
        detail = {"shared_words": sorted(shared)[:10], "similarity": similarity}
        return EvaluationResult(
            self.name,
            1.0,
            True,
            "complete",
            "The run ended with an answer that addresses the request.",
            (detail,),
            tier,
            threshold=self.threshold,
        )

    def _get_embedder(self) -> Embedder | None:
        if not self._embedder_resolved:
            self._embedder = resolve_embedder(self._embedder_choice)
            self._embedder_resolved = True
        return self._embedder
