"""What the policy layer and the guardrails add to one traced chat call when nothing is triggered.

Configurations, side by side in one run of one process (agentwatch is switched between them with
``uninstrument()`` and ``instrument()``, in a new shuffled order each round):

* ``bare``: the SDK without agentwatch.
* ``traced``: ``agentwatch.instrument()`` with no policy.
* ``policy``: routes, a fallback route and a mirror with fraction 0 (the route matching, timeout
  and fallback bookkeeping run on every call).
* ``policy+guardrails``: the same plus input and output guardrails (pii redact, secrets raise,
  prompt_injection block, blocked_topics flag) on a typical support exchange that triggers none.

Requests go to an in-process transport that answers at once, so each reported time is agentwatch's
own CPU cost. The last column relates the added time to a 100 ms model call.

Run:  python benchmarks/bench_policy.py [--rounds 30] [--calls 200]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "src"))

from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult  # noqa: E402

import agentwatch  # noqa: E402
from _openai_transport import Recorder, chat_completion, make_clients  # noqa: E402
from agentwatch import Fallback, GuardrailRule, Mirror, Policy, Route  # noqa: E402

BASE_URL = "http://127.0.0.1:8080/v1"
MODEL_CALL_MS = 100.0
MESSAGES = [
    {"role": "system", "content": "You are a helpful support agent for an online store."},
    {"role": "user", "content": "My order 1017 has not shipped yet. How long does express shipping take?"},
]
ANSWER = "Express shipping takes 1 business day and costs 9.90 EUR."
ROUTES = {
    "local": Route("local", "smollm2", base_url=BASE_URL, timeout=30),
    "approved": Route("approved", "smollm2-approved", base_url="http://127.0.0.1:8082/v1", approved=True),
}
GUARDRAILS = (
    GuardrailRule("pii", "input", "redact"),
    GuardrailRule("secrets", "input", "raise"),
    GuardrailRule("prompt_injection", "input", "block"),
    GuardrailRule("blocked_topics", "input", "flag", topics=("gambling", "weapons")),
    GuardrailRule("pii", "output", "redact"),
    GuardrailRule("secrets", "output", "redact"),
)
POLICIES: dict[str, Policy | None] = {
    "traced": None,
    "policy": Policy(
        routes=ROUTES, fallback=Fallback("approved", ("error", "timeout")), mirror=Mirror("approved", 0.0)
    ),
    "policy+guardrails": Policy(
        routes=ROUTES, guardrails=GUARDRAILS, fallback=Fallback("approved", ("error", "timeout", "guardrail"))
    ),
}
CONFIGURATIONS = ("bare", *POLICIES)


class DropExporter(SpanExporter):
    def export(self, spans: Any) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30, help="timed rounds per configuration")
    parser.add_argument("--calls", type=int, default=200, help="calls per timed repeat")
    arguments = parser.parse_args()

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(DropExporter()))
    recorder = Recorder()
    recorder.json(
        chat_completion(ANSWER, usage={"prompt_tokens": 40, "completion_tokens": 14, "total_tokens": 54})
    )
    client, _ = make_clients(recorder, base_url=BASE_URL)

    def repeat(name: str) -> float:
        if name != "bare":
            agentwatch.instrument(tracer_provider=provider, policy=POLICIES[name], integrations=["openai"])
        try:
            start = time.process_time()
            for _ in range(arguments.calls):
                response = client.chat.completions.create(model="smollm2", messages=MESSAGES)
            provider.force_flush()
            elapsed = time.process_time() - start
        finally:
            agentwatch.uninstrument()
        assert response.choices[0].message.content == ANSWER, "a guardrail fired; the benchmark needs none"
        recorder.requests.clear()
        return elapsed / arguments.calls * 1e6

    for name in CONFIGURATIONS:  # warm-up, and the evaluator and guardrail caches
        repeat(name)
    times: dict[str, list[float]] = {name: [] for name in CONFIGURATIONS}
    for _ in range(arguments.rounds):
        order = list(CONFIGURATIONS)
        random.shuffle(order)
        for name in order:
            times[name].append(repeat(name))

    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"load average {load}; {arguments.rounds} rounds x {arguments.calls} calls; CPU µs per call")
    base = statistics.median(times["bare"])
    traced = statistics.median(times["traced"])
    print(f"{'configuration':<20} {'µs/call':>9} {'added vs traced':>16} {'of a 100 ms call':>17}")
    for name in CONFIGURATIONS:
        median = statistics.median(times[name])
        added = median - traced if name not in ("bare", "traced") else None
        share = f"{added / (MODEL_CALL_MS * 1000):.2%}" if added is not None else ""
        print(f"{name:<20} {median:9.1f} {'' if added is None else f'{added:+.1f}':>16} {share:>17}")
    print(f"tracing itself adds {traced - base:+.1f} µs over the bare SDK")


if __name__ == "__main__":
    main()
