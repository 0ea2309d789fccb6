"""Benchmark the evaluators: accuracy on the labelled sets and latency per tier.

Run from the repository root:

    python benchmarks/bench_evaluators.py [--repeat N]

Prints balanced accuracy for rules only (T0), rules plus the bundled MiniLM (T0+T1), and two
baselines measured in the same run: claim-word overlap and embedding cosine, each with the
threshold that maximises its own balanced accuracy on the set (so the baselines are optimistic).
Then per-kind errors, the cases still wrong, and p50/p99 latencies, including a context of about
4,000 tokens.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from agentwatch.evaluators import Groundedness, ToolSelectionAccuracy, default_embedder  # noqa: E402
from agentwatch.evaluators._claims import split_sentences  # noqa: E402
from agentwatch.evaluators._groundedness import _INDEXES  # noqa: E402
from agentwatch.evaluators._text import STOPWORDS, WORD_RE, normalise, stem  # noqa: E402

DATA = ROOT / "tests" / "evaluators" / "data"


def load_jsonl(name: str) -> list[dict[str, Any]]:
    with open(DATA / name, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def balanced_accuracy(labels: list[bool], predictions: list[bool]) -> float:
    positives = [p for label, p in zip(labels, predictions, strict=True) if label]
    negatives = [not p for label, p in zip(labels, predictions, strict=True) if not label]
    return (sum(positives) / len(positives) + sum(negatives) / len(negatives)) / 2


def best_threshold(labels: list[bool], scores: list[float]) -> tuple[float, float]:
    candidates = sorted(set(scores))
    best = (0.0, 0.0)
    for threshold in candidates:
        accuracy = balanced_accuracy(labels, [score >= threshold for score in scores])
        best = max(best, (accuracy, threshold))
    return best


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def context_text(context: object) -> str:
    return "\n".join(context) if isinstance(context, list) else str(context)


def overlap_score(output: str, context: str) -> float:
    context_words = {stem(word) for word in WORD_RE.findall(normalise(context))}
    words = [stem(word) for word in WORD_RE.findall(normalise(output)) if word not in STOPWORDS]
    return sum(word in context_words for word in words) / len(words) if words else 1.0


def cosine_score(embedder: Any, output: str, context: str) -> float:
    sentences = split_sentences(context)
    if not sentences:
        return 0.0
    vectors = embedder.embed([output, *sentences])
    return float((vectors[1:] @ vectors[0]).max())


def expected_label(case: dict[str, Any]) -> str:
    return "grounded" if case["grounded"] else "not grounded"


def run_groundedness(cases: list[dict[str, Any]], embedder: Any) -> None:
    labels = [case["grounded"] for case in cases]
    evaluators = {"T0 rules": Groundedness(embedder=None)}
    if embedder is not None:
        evaluators["T0+T1 MiniLM"] = Groundedness(embedder=embedder)
    print(f"groundedness: {len(cases)} cases ({sum(labels)} grounded, {len(labels) - sum(labels)} not)")
    wrong_by_tier: dict[str, list[tuple[dict[str, Any], Any]]] = {}
    latencies: dict[str, list[float]] = {}
    for name, evaluator in evaluators.items():
        results = [evaluator.evaluate(output=case["output"], context=case["context"]) for case in cases]
        latencies[name] = [result.duration_ms for result in results]
        accuracy = balanced_accuracy(labels, [result.passed for result in results])
        wrong_by_tier[name] = [
            (case, result)
            for case, result in zip(cases, results, strict=True)
            if result.passed != case["grounded"]
        ]
        print(f"  {name:<28} balanced accuracy {accuracy:.3f}  wrong {len(wrong_by_tier[name])}")
    accuracy, threshold = best_threshold(
        labels, [overlap_score(case["output"], context_text(case["context"])) for case in cases]
    )
    print(
        f"  {'baseline word overlap':<28} balanced accuracy {accuracy:.3f}  (best threshold {threshold:.2f})"
    )
    if embedder is not None:
        scores = [cosine_score(embedder, case["output"], context_text(case["context"])) for case in cases]
        accuracy, threshold = best_threshold(labels, scores)
        print(
            f"  {'baseline embedding cosine':<28} balanced accuracy {accuracy:.3f}"
            f"  (best threshold {threshold:.2f})"
        )
    kinds = Counter(case["kind"] for case in cases)
    print("\n  errors per kind (wrong / cases):")
    for kind in sorted(kinds):
        row = "  ".join(
            f"{name}: {sum(1 for case, _ in wrong if case['kind'] == kind)}"
            for name, wrong in wrong_by_tier.items()
        )
        print(f"    {kind:<18} {kinds[kind]:>3} cases   {row}")
    for name, wrong in wrong_by_tier.items():
        print(f"\n  still wrong with {name}:")
        for case, result in wrong:
            print(
                f"    {case['id']:<20} expected {expected_label(case):<12}"
                f" got {result.label:<13} {case['output']}"
            )
    print("\n  latency per case on the set (ms):")
    for name, values in latencies.items():
        print(f"    {name:<28} p50 {percentile(values, 0.5):7.3f}  p99 {percentile(values, 0.99):7.3f}")


def make_long_context(target_tokens: int, rng: random.Random) -> tuple[list[str], list[str]]:
    teams = ["payments", "search", "billing", "identity", "storage", "mobile", "growth", "support"]
    cities = ["Berlin", "Lisbon", "Porto", "Madrid", "Oslo", "Vienna", "Dublin", "Prague"]
    names = [
        "Alice Chen",
        "Bob Diaz",
        "Carol Evans",
        "Dan Fox",
        "Eve Gray",
        "Finn Hale",
        "Gus Ito",
        "Hana Jung",
    ]
    sentences: list[str] = []
    tokens = 0
    index = 0
    while tokens < target_tokens:
        team, city, person = teams[index % 8], cities[(index // 8) % 8], names[(index // 3) % 8]
        days, price = 5 + index % 40, 10 + (index * 7) % 90
        options = [
            f"The {team} team in {city} answers tickets within {days} business days.",
            f"{person} approves {team} budget requests above ${price},000 each quarter.",
            f"Service tier {index} of the {team} product costs ${price} per month and includes {days} seats.",
            f"Backups for {team} data in {city} are kept for {days} days before deletion.",
        ]
        sentence = options[index % 4]
        sentences.append(sentence)
        tokens += int(len(sentence.split()) * 1.3)
        index += 1
    claims = [
        sentences[5].replace("business days", "days"),
        sentences[10],
        sentences[42].replace(str(10 + (42 * 7) % 90), "999"),
        "The growth team in Oslo has a dedicated on-call rota.",
        "Backups are never deleted.",
        "Alice Chen approves payments budget requests above $10,000 each quarter.",
    ]
    return sentences, claims


def time_calls(function: Any, repeat: int) -> list[tuple[float, float]]:
    """Call ``function`` ``repeat`` times; return (wall ms, CPU ms of this thread) per call.

    A wall time far above the CPU time means the thread waited: it was descheduled by the
    operating system, or blocked.
    """
    values = []
    for _ in range(repeat):
        start_cpu = time.thread_time()
        start = time.perf_counter()
        function()
        wall = (time.perf_counter() - start) * 1000.0
        values.append((wall, (time.thread_time() - start_cpu) * 1000.0))
    return values


def split_pieces(sentences: list[str], count: int) -> list[str]:
    """Join the sentences into ``count`` pieces of about equal length, like tool results."""
    size = -(-len(sentences) // count)
    return [" ".join(sentences[start : start + size]) for start in range(0, len(sentences), size)]


def run_latency(embedder: Any, repeat: int) -> None:
    rng = random.Random(7)
    sentences, claims = make_long_context(4000, rng)
    context = " ".join(sentences)
    words = len(context.split())
    print(
        f"\nlong context: {len(sentences)} sentences, {words} words, "
        f"about {int(words * 1.3)} tokens, {len(context)} characters"
    )
    rules = Groundedness(embedder=None)
    rules.evaluate(output=claims[0], context=context)

    def warm(evaluator: Groundedness, claim: str) -> Any:
        return lambda: evaluator.evaluate(output=claim, context=context)

    def cold(evaluator: Groundedness, claim: str) -> Any:
        def call() -> None:
            _INDEXES.clear()
            evaluator.evaluate(output=claim, context=context)

        return call

    # Evidence that grows like a run's: three pieces seen at earlier steps, and a new one.
    pieces = split_pieces(sentences, 4)
    grown = iter(range(10**9))

    def grown_by_one(evaluator: Groundedness, claim: str) -> Any:
        def call() -> None:
            new_piece = f"{pieces[3]} Ticket {next(grown)} was closed."
            evaluator.evaluate(output=claim, context=[*pieces[:3], new_piece])

        return call

    rules.evaluate(output=claims[0], context=pieces)
    rows: list[tuple[str, list[tuple[float, float]]]] = []
    rows.append(
        (
            "T0 one claim, index cached",
            [v for claim in claims for v in time_calls(warm(rules, claim), repeat)],
        )
    )
    rows.append(
        (
            "T0 one claim, cold index",
            [v for claim in claims for v in time_calls(cold(rules, claim), max(3, repeat // 10))],
        )
    )
    rows.append(
        (
            "T0 one claim, 1 of 4 pieces new",
            [v for claim in claims for v in time_calls(grown_by_one(rules, claim), max(3, repeat // 10))],
        )
    )
    if embedder is not None:
        model = Groundedness(embedder=embedder)
        model.evaluate(output=claims[3], context=context)
        rows.append(
            (
                "T0+T1 one claim, warm",
                [v for claim in claims for v in time_calls(warm(model, claim), max(5, repeat // 5))],
            )
        )
        # Claims without numbers or unseen names, so the rules may leave them to the model; each
        # text is new, so its vector is not cached. Only the claims the model decided are timed.
        paraphrases = [
            "Search team tickets get answered quickly",
            "Oslo storage backups are eventually removed",
        ]
        fresh = [f"{text} in case {n}." for n in range(max(5, repeat // 5)) for text in paraphrases]
        values = []
        tiers: Counter[str] = Counter()
        for text in fresh:
            start_cpu = time.thread_time()
            start = time.perf_counter()
            result = model.evaluate(output=text, context=context)
            elapsed = (time.perf_counter() - start) * 1000.0
            tiers[result.tier] += 1
            if result.tier == "T1":
                values.append((elapsed, (time.thread_time() - start_cpu) * 1000.0))
        rows.append(("T1 new ambiguous claim", values))
        print(f"tiers that decided the new claims: {dict(tiers)} (only the T1 ones are timed)")
        tools = ToolSelectionAccuracy(embedder=embedder)
    else:
        tools = ToolSelectionAccuracy(embedder=None)
    toolset = json.loads((DATA / "toolsets.json").read_text())["travel"]
    calls = [{"name": "get_weather", "arguments": '{"city": "Oslo"}'}]
    rows.append(
        (
            f"tool selection ({'T1' if embedder is not None else 'T0'})",
            time_calls(
                lambda: tools.evaluate(input="Weather in Oslo?", tools=toolset, tool_calls=calls), repeat
            ),
        )
    )
    print("latency (ms; wall clock, and CPU time of the calling thread):")
    for name, timings in rows:
        wall = [timing[0] for timing in timings]
        cpu = [timing[1] for timing in timings]
        print(
            f"  {name:<32} wall p50 {percentile(wall, 0.5):8.3f}  p99 {percentile(wall, 0.99):8.3f}"
            f"   cpu p50 {percentile(cpu, 0.5):8.3f}  p99 {percentile(cpu, 0.99):8.3f}  n={len(timings)}"
        )


def run_tools(embedder: Any) -> None:
    cases = load_jsonl("tool_calls.jsonl")
    toolsets = json.loads((DATA / "toolsets.json").read_text())
    labels = [case["correct"] for case in cases]
    print(f"\ntool selection: {len(cases)} cases")
    for name, choice in (("T0 rules", None), ("T0+T1 MiniLM", embedder)):
        if name != "T0 rules" and choice is None:
            continue
        evaluator = ToolSelectionAccuracy(embedder=choice)
        results = [
            evaluator.evaluate(
                input=case["input"],
                tools=toolsets[case["toolset"]],
                tool_calls=case["tool_calls"],
                expected_tools=case.get("expected_tools"),
                tool_choice=case.get("tool_choice"),
                ordered=case.get("ordered", False),
                previous_calls=case.get("previous_calls"),
            )
            for case in cases
        ]
        pairs = zip(cases, results, strict=True)
        wrong = [case["id"] for case, result in pairs if result.passed != case["correct"]]
        print(
            f"  {name:<28} balanced accuracy {balanced_accuracy(labels, [r.passed for r in results]):.3f}"
            f"  wrong: {', '.join(wrong) or 'none'}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=200, help="timed calls per claim for the latency rows")
    parser.add_argument(
        "--no-model", action="store_true", help="skip the local-model tier and the cosine baseline"
    )
    arguments = parser.parse_args()
    embedder = None
    if not arguments.no_model:
        model = default_embedder()
        start = time.perf_counter()
        if model.available():
            embedder = model
            print(f"MiniLM int8 loaded in {(time.perf_counter() - start) * 1000:.0f} ms")
        else:
            print(f"local-model tier not available: {model.load_error}")
    run_groundedness(load_jsonl("groundedness.jsonl"), embedder)
    run_tools(embedder)
    run_latency(embedder, arguments.repeat)


if __name__ == "__main__":
    main()
