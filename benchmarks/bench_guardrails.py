"""Benchmark the guardrail checks: p50/p99 latency per check on two inputs.

Run from the repository root:

    python benchmarks/bench_guardrails.py [--repeat N]

Inputs: a typical support message of about 60 words with one e-mail address and one order
number, and a tool result of about 4,000 tokens. The tool result is about 16,000 characters of
order records, JSON lines and prose with no secrets or injections, so every check scans all of it.
Each check runs once to
warm up, then ``--repeat`` times; the table gives p50 and p99 wall time in microseconds.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from agentwatch.governance import GuardrailRule  # noqa: E402
from agentwatch.guardrails import (  # noqa: E402
    BlockedTopicsGuardrail,
    GroundednessGuardrail,
    GuardrailSuite,
    JsonSchemaGuardrail,
    PiiGuardrail,
    PromptInjectionGuardrail,
    Redactor,
    SecretsGuardrail,
)

SUPPORT_MESSAGE = (
    "Hi, I ordered a pair of running shoes last week (order #4827-1193) and the tracking page has "
    "said 'label created' for five days. Can you check whether it actually shipped? If it is lost, "
    "I would rather get a refund than a replacement. You can reach me at sam.lee@example.com. Thanks!"
)


def tool_result(target_chars: int = 16_000) -> str:
    """Build a tool result of about ``target_chars`` characters (about 4 characters per token)."""
    parts: list[str] = []
    size = 0
    index = 0
    while size < target_chars:
        record = {
            "order_id": f"A{100000 + index}",
            "status": ["shipped", "processing", "delivered"][index % 3],
            "items": [{"sku": f"SKU-{index:05d}", "qty": index % 4 + 1, "price": 19.99 + index}],
            "placed": f"2024-03-{index % 28 + 1:02d}",
            "note": "Customer asked to leave the parcel at the side door if nobody answers.",
        }
        line = json.dumps(record)
        prose = (
            f"Order {record['order_id']} was updated by the warehouse system at 10:{index % 60:02d}. "
            "The carrier scanned the parcel at the regional hub and expects delivery within two days."
        )
        parts.extend((line, prose))
        size += len(line) + len(prose) + 2
        index += 1
    return "\n".join(parts)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def measure(func: Callable[[], object], repeat: int) -> tuple[float, float]:
    func()
    timings = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        timings.append((time.perf_counter() - start) * 1e6)
    return percentile(timings, 0.5), percentile(timings, 0.99)


def redact_fresh(text: str) -> str:
    """Redact with a new vault, as the first message of a run does."""
    return Redactor().redact(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=300, help="timed runs per check and input")
    args = parser.parse_args()

    pii = PiiGuardrail()
    secrets = SecretsGuardrail()
    injection = PromptInjectionGuardrail()
    topics = BlockedTopicsGuardrail(["gambling", "medical advice", "weapons", "crypto currency"])
    schema = JsonSchemaGuardrail()
    suite = GuardrailSuite(
        [
            GuardrailRule("prompt_injection", action="block"),
            GuardrailRule("pii", action="redact"),
            GuardrailRule("secrets", action="block"),
            GuardrailRule("blocked_topics", action="block", topics=("gambling", "weapons")),
        ]
    )
    large = tool_result()
    inputs = {"support message": SUPPORT_MESSAGE, "4k-token tool result": large}
    answer = json.dumps({"order_id": "A100001", "status": "shipped", "refund": False})
    answer_schema = {
        "type": "object",
        "properties": {"order_id": {"type": "string"}, "status": {"type": "string"}},
        "required": ["order_id", "status"],
    }

    rows: list[tuple[str, str, float, float]] = []
    for label, text in inputs.items():
        source = "user" if label == "support message" else "tool"
        checks: dict[str, Callable[[], object]] = {
            "blocked_topics": partial(topics.check, text),
            "secrets": partial(secrets.check, text),
            "pii": partial(pii.check, text),
            "prompt_injection": partial(injection.check, text, source=source),
            "redact (pii + secrets)": partial(redact_fresh, text),
            "suite, input stage (4 rules)": partial(suite.run, text, stage="input", source=source),
        }
        for name, func in checks.items():
            p50, p99 = measure(func, args.repeat)
            rows.append((name, label, p50, p99))
    p50, p99 = measure(lambda: schema.check(answer, schema=answer_schema), args.repeat)
    rows.append(("json_schema", "short JSON answer", p50, p99))
    # Groundedness runs on a thread of its own inside the suite, so the call can stop waiting at
    # its budget; the two rows show that hop's cost beside the check called directly.
    grounded = GroundednessGuardrail()
    grounded_suite = GuardrailSuite([GuardrailRule("groundedness", stage="output", action="flag")])
    claim, evidence = "Your order shipped on March 3 and arrives in 5 days.", [large]
    p50, p99 = measure(lambda: grounded.check(claim, context=evidence), args.repeat)
    rows.append(("groundedness, called directly", "answer vs 4k tool result", p50, p99))
    p50, p99 = measure(lambda: grounded_suite.run(claim, stage="output", context=evidence), args.repeat)
    rows.append(("groundedness, suite (thread)", "answer vs 4k tool result", p50, p99))

    print(f"Guardrail latency, {args.repeat} runs each, Python {sys.version.split()[0]}")
    print(f"tool result: {len(large)} characters\n")
    print(f"| {'check':<30} | {'input':<24} | {'p50 µs':>9} | {'p99 µs':>9} |")
    print(f"|{'-' * 32}|{'-' * 26}|{'-' * 11}|{'-' * 11}|")
    for name, label, p50, p99 in rows:
        print(f"| {name:<30} | {label:<24} | {p50:>9.1f} | {p99:>9.1f} |")


if __name__ == "__main__":
    main()
