"""The LLM-judge tier (T2): a pluggable judge callable and a bounded background worker.

agentwatch does not call a model here. The caller passes ``judge(prompt) -> str`` (for example a
function that sends the prompt to an approved OpenAI-compatible route at temperature 0). The
judge must answer with a JSON object whose ``label`` is one of the allowed labels; a malformed
answer gets at most one repair request, then the result is an ``"error"``, never a pass.
"""

from __future__ import annotations

import json
import logging
import queue
import random
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from ._result import TIER_JUDGE, EvaluationResult

logger = logging.getLogger(__name__)

JudgeFn = Callable[[str], str]
PROMPT_VERSION = "1"
_JSON_OBJECT_RE = re.compile(r"\{.*\}", re.DOTALL)


@dataclass(frozen=True)
class JudgeVerdict:
    """The parsed answer of a judge: a label from the allowed set, or an error."""

    label: str | None
    explanation: str
    error: str | None = None


def _parse(raw: str, labels: Sequence[str]) -> JudgeVerdict:
    match = _JSON_OBJECT_RE.search(raw or "")
    if match is None:
        return JudgeVerdict(None, "", "the judge's answer contains no JSON object")
    try:
        value = json.loads(match.group(0))
    except json.JSONDecodeError as exc:
        return JudgeVerdict(None, "", f"the judge's answer is not valid JSON ({exc.msg})")
    if not isinstance(value, dict):
        return JudgeVerdict(None, "", "the judge's answer is not a JSON object")
    label = str(value.get("label", "")).strip().lower()
    if label not in labels:
        return JudgeVerdict(None, "", f"the judge's label {label!r} is not one of {list(labels)}")
    return JudgeVerdict(label, str(value.get("explanation", "")))


class LLMJudge:
    """Ask a judge callable for an enum label, with one repair request on a malformed answer.

    Args:
        judge: ``judge(prompt) -> str``; it should return JSON such as
            ``{"label": "grounded", "explanation": "..."}``. Exceptions it raises become
            ``"error"`` results.
        max_repairs: repair requests after a malformed answer. Default 1.
    """

    def __init__(self, judge: JudgeFn, *, max_repairs: int = 1) -> None:
        if not callable(judge):
            raise TypeError(f"judge must be callable as judge(prompt) -> str, got {judge!r}")
        self.judge = judge
        self.max_repairs = max_repairs

    def classify(self, prompt: str, labels: Sequence[str]) -> JudgeVerdict:
        """Send ``prompt`` and return the parsed label; never raises."""
        full_prompt = (
            f"{prompt}\n\nAnswer with only a JSON object: "
            f'{{"label": one of {json.dumps(list(labels))}, "explanation": "one sentence"}}'
        )
        verdict = JudgeVerdict(None, "", "the judge was not called")
        for attempt in range(self.max_repairs + 1):
            try:
                raw = self.judge(full_prompt)
            except Exception as exc:  # noqa: BLE001 - a failing judge is an error result, not a crash
                logger.warning("LLM judge call failed: %s: %s", type(exc).__name__, exc)
                return JudgeVerdict(None, "", f"the judge call failed: {type(exc).__name__}: {exc}")
            verdict = _parse(raw if isinstance(raw, str) else "", labels)
            if verdict.error is None:
                return verdict
            if attempt < self.max_repairs:
                full_prompt = (
                    f"{full_prompt}\n\nYour previous answer could not be used: {verdict.error}. "
                    "Reply again with only the JSON object."
                )
        return verdict

    def evaluate(
        self, name: str, prompt: str, labels: Mapping[str, float], threshold: float
    ) -> EvaluationResult:
        """Classify and turn the label into a result; ``labels`` maps each label to its score."""
        verdict = self.classify(prompt, list(labels))
        if verdict.error is not None or verdict.label is None:
            message = verdict.error or "no label"
            return EvaluationResult(
                name,
                0.0,
                False,
                "error",
                f"The LLM judge gave no usable answer: {message}.",
                tier=TIER_JUDGE,
                threshold=threshold,
                error=message,
                metadata={"judge.prompt_version": PROMPT_VERSION},
            )
        score = labels[verdict.label]
        return EvaluationResult(
            name,
            score,
            score >= threshold,
            verdict.label,
            verdict.explanation or f"The LLM judge labelled this {verdict.label}.",
            tier=TIER_JUDGE,
            threshold=threshold,
            metadata={"judge.prompt_version": PROMPT_VERSION},
        )

    def groundedness(self, output: str, context: str, threshold: float = 0.5) -> EvaluationResult:
        """Judge whether every claim of ``output`` is stated by ``context``."""
        prompt = (
            "Decide whether every factual claim in the ANSWER is stated by the CONTEXT. A claim the "
            "context does not state is unsupported. Declining to answer is grounded.\n\n"
            f"CONTEXT:\n{context}\n\nANSWER:\n{output}"
        )
        return self.evaluate(
            "groundedness", prompt, {"grounded": 1.0, "unsupported": 0.0, "contradicted": 0.0}, threshold
        )

    def task_completion(self, request: str, output: str, threshold: float = 0.5) -> EvaluationResult:
        """Judge whether ``output`` completes the user's ``request``."""
        prompt = (
            "Decide whether the FINAL ANSWER completes the user's REQUEST.\n\n"
            f"REQUEST:\n{request}\n\nFINAL ANSWER:\n{output}"
        )
        return self.evaluate(
            "task_completion", prompt, {"complete": 1.0, "partial": 0.5, "incomplete": 0.0}, threshold
        )


class JudgeWorker:
    """Run judge evaluations off the request path on one background thread with a bounded queue.

    ``submit`` never blocks: when the queue is full the task is dropped and counted, because a
    slow judge must not slow the application. Results go to the ``on_result`` callback (which
    may, for example, add an event linked to the evaluated span).

    Args:
        max_queue: tasks waiting at most. Default 64.
        sample_rate: share of submitted tasks that run, in [0, 1]. Default 1.0.
        seed: seed for the sampling, for reproducible tests.
    """

    def __init__(self, *, max_queue: int = 64, sample_rate: float = 1.0, seed: int | None = None) -> None:
        self._queue: queue.Queue[
            tuple[Callable[[], EvaluationResult], Callable[[EvaluationResult], None]] | None
        ] = queue.Queue(max_queue)
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.sample_rate = sample_rate
        self.submitted = self.dropped = self.skipped = self.completed = self.failed = 0

    def submit(
        self, task: Callable[[], EvaluationResult], on_result: Callable[[EvaluationResult], None]
    ) -> bool:
        """Queue ``task``; return False when it was sampled out or the queue is full."""
        with self._lock:
            self.submitted += 1
            if self._random.random() >= self.sample_rate:
                self.skipped += 1
                return False
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="agentwatch-judge", daemon=True)
                self._thread.start()
        try:
            self._queue.put_nowait((task, on_result))
        except queue.Full:
            with self._lock:
                self.dropped += 1
            logger.debug("judge queue full; dropped one evaluation")
            return False
        return True

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                task, on_result = item
                try:
                    on_result(task())
                    with self._lock:
                        self.completed += 1
                except Exception as exc:  # noqa: BLE001 - one failed task must not stop the worker
                    with self._lock:
                        self.failed += 1
                    logger.warning("background judge task failed: %s: %s", type(exc).__name__, exc)
            finally:
                self._queue.task_done()

    def join(self, timeout: float | None = None) -> bool:
        """Wait until the queued tasks are done; return False on timeout."""
        finished = threading.Event()

        def wait() -> None:
            self._queue.join()
            finished.set()

        threading.Thread(target=wait, daemon=True).start()
        return finished.wait(timeout)

    def close(self, timeout: float | None = 5.0) -> None:
        """Stop the worker after the queued tasks; tasks still queued at the timeout are lost."""
        with self._lock:
            thread = self._thread
            self._thread = None
        if thread is not None:
            try:
                self._queue.put(None, timeout=timeout)
            except queue.Full:
                return
            thread.join(timeout)
