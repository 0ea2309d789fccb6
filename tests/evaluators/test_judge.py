from __future__ import annotations

import threading

from agentwatch.evaluators import EvaluationResult, JudgeWorker, LLMJudge


def test_judge_label_parsed():
    judge = LLMJudge(lambda prompt: 'Sure. {"label": "grounded", "explanation": "All stated."}')
    result = judge.groundedness("Refunds last 30 days.", "Refunds last 30 days.")
    assert result.label == "grounded"
    assert result.passed is True
    assert result.tier == "T2"


def test_judge_repairs_once_then_errors():
    answers = iter(["no json here", "still nothing", '{"label": "grounded"}'])
    prompts: list[str] = []

    def judge(prompt: str) -> str:
        prompts.append(prompt)
        return next(answers)

    result = LLMJudge(judge).groundedness("a", "b")
    assert len(prompts) == 2
    assert "could not be used" in prompts[1]
    assert result.label == "error"
    assert result.passed is False
    assert result.score == 0.0


def test_judge_repair_succeeds():
    answers = iter(['{"label": "maybe"}', '{"label": "unsupported", "explanation": "x"}'])
    result = LLMJudge(lambda prompt: next(answers)).groundedness("a", "b")
    assert result.label == "unsupported"
    assert result.passed is False


def test_judge_exception_is_error():
    def judge(prompt: str) -> str:
        raise TimeoutError("judge timed out")

    result = LLMJudge(judge).task_completion("q", "a")
    assert result.label == "error"
    assert "timed out" in (result.error or "")


def test_worker_runs_in_background():
    worker = JudgeWorker(max_queue=4)
    results: list[EvaluationResult] = []
    judge = LLMJudge(lambda prompt: '{"label": "complete"}')
    assert worker.submit(lambda: judge.task_completion("q", "a"), results.append)
    assert worker.join(timeout=5)
    worker.close()
    assert [result.label for result in results] == ["complete"]
    assert worker.completed == 1


def test_worker_drops_when_full():
    release = threading.Event()
    worker = JudgeWorker(max_queue=1)

    def slow() -> EvaluationResult:
        release.wait(5)
        return EvaluationResult("x", 1.0, True, "ok", "ok")

    accepted = [worker.submit(slow, lambda result: None) for _ in range(4)]
    release.set()
    worker.join(timeout=5)
    worker.close()
    assert accepted.count(False) >= 2
    assert worker.dropped >= 2


def test_worker_sampling():
    worker = JudgeWorker(sample_rate=0.0)
    assert worker.submit(lambda: EvaluationResult("x", 1.0, True, "ok", "ok"), lambda result: None) is False
    assert worker.skipped == 1
