"""Benchmark what inline evaluation adds to one model call in an agent run.

Run from the repository root (the ``openai`` and ``evaluators`` extras installed):

    python benchmarks/bench_inline.py [--rounds N] [--runs N]

Every configuration makes the same instrumented ``client.chat.completions.create`` calls over an
in-process transport that returns a canned completion, so no server or network is involved:

- ``no policy``: agentwatch tracing only.
- ``T0``: a policy with the groundedness, hallucination and tool_selection evaluators, with the
  local model hidden so the rules decide alone.
- ``T0+T1``: the same policy with the bundled MiniLM.

Each run is an ``agentwatch.trajectory()`` of 5 steps. Step k sends the messages of an agent loop
that contain k tool results of about 1,000 tokens each, new text in every run, so the last step is
judged against about 5,000 tokens of evidence. Each canned answer has text (three claims, one
with a wrong number) and a tool call, so all three evaluators run on every step.

Each configuration runs in its own subprocess, because instrumentation and the policy are
process-wide. The parent asks the subprocesses for one batch of runs at a time, in a new order
each round, so load changes on the machine spread over all of them. The added time per step is
a configuration's percentile minus the ``no policy`` percentile for the same step.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
STEPS = 5
MODEL_CALL_MS = 100.0
# "flag" policies evaluate on the background worker; "block" ones must evaluate before returning.
CONFIGURATIONS = ("no policy", "T0 flag", "T0 block", "T0+T1 flag", "T0+T1 block")

TEAMS = ["payments", "search", "billing", "identity", "storage", "mobile", "growth", "support"]
CITIES = ["Berlin", "Lisbon", "Porto", "Madrid", "Oslo", "Vienna", "Dublin", "Prague"]


def tool_result(run: int, step: int, target_tokens: int = 1000) -> list[str]:
    """Return the sentences of one tool result of about ``target_tokens`` tokens."""
    sentences: list[str] = []
    tokens = 0
    index = 0
    while tokens < target_tokens:
        team, city = TEAMS[(index + step) % 8], CITIES[(index // 8 + run) % 8]
        days, price = 5 + (index + run) % 40, 10 + (index * 7 + run) % 90
        options = [
            f"Ticket {run}-{step}-{index}: the {team} team in {city} answers within {days} business days.",
            f"Plan {run}-{step}-{index} of the {team} product costs ${price} per month.",
            f"Backups for {team} data in {city} are kept for {days} days before deletion (run {run}).",
        ]
        sentence = options[index % 3]
        sentences.append(sentence)
        tokens += int(len(sentence.split()) * 1.3)
        index += 1
    return sentences


TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "search_tickets",
            "description": "Search support tickets by team and city.",
            "parameters": {
                "type": "object",
                "properties": {"team": {"type": "string"}, "city": {"type": "string"}},
                "required": ["team"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather for a city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    },
]


def child(configuration: str, model_ms: float) -> None:
    """Serve timed batches of runs for one configuration: read a run count, write the times."""
    if configuration.startswith("T0 "):
        # Hide the model runtime, as when the evaluators extra is not installed.
        sys.modules["onnxruntime"] = None  # type: ignore[assignment]
    sys.path.insert(0, str(ROOT / "tests"))
    sys.path.insert(0, str(ROOT / "src"))
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    import agentwatch
    from _openai_transport import Recorder, chat_completion, make_clients

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    policy = None
    if configuration != "no policy":
        on_fail = "block" if configuration.endswith("block") else "flag"
        policy = agentwatch.Policy(
            evaluators=(
                agentwatch.EvaluatorRule("groundedness", on_fail=on_fail),
                agentwatch.EvaluatorRule("hallucination", on_fail=on_fail),
                agentwatch.EvaluatorRule("tool_selection", on_fail=on_fail),
            )
        )
    agentwatch.instrument(tracer_provider=provider, policy=policy, integrations=["openai"])
    recorder = Recorder()
    client, _ = make_clients(recorder)
    run_number = 0

    def one_run() -> list[float]:
        nonlocal run_number
        run_number += 1
        results = [tool_result(run_number, step) for step in range(STEPS)]
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": "You answer questions about support operations."},
            {"role": "user", "content": "How fast does each team answer tickets?"},
        ]
        times = []
        with agentwatch.trajectory("bench"):
            for step in range(STEPS):
                messages.append(
                    {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [
                            {
                                "id": f"call_{step}",
                                "type": "function",
                                "function": {"name": "search_tickets", "arguments": '{"team": "search"}'},
                            }
                        ],
                    }
                )
                messages.append(
                    {"role": "tool", "tool_call_id": f"call_{step}", "content": " ".join(results[step])}
                )
                source = results[step]
                answer = f"{source[0]} {source[1]} {source[2].replace('days', 'weeks', 1)}"
                recorder.json(
                    chat_completion(
                        answer,
                        tool_calls=[
                            {
                                "id": f"call_{step + 1}",
                                "type": "function",
                                "function": {"name": "search_tickets", "arguments": '{"team": "billing"}'},
                            }
                        ],
                        usage={"prompt_tokens": 1000, "completion_tokens": 50, "total_tokens": 1050},
                    )
                )
                if model_ms > 0:
                    answer_now = recorder.handler

                    def slow_answer(request: Any, answer_now: Any = answer_now) -> Any:
                        time.sleep(model_ms / 1000.0)  # the model's own time; the GIL is free
                        return answer_now(request)

                    recorder.handler = slow_answer
                start = time.perf_counter()
                client.chat.completions.create(model="smollm2", messages=messages, tools=TOOLS)
                times.append((time.perf_counter() - start) * 1000.0)
        return times

    def settle() -> None:
        # Background evaluations finish between batches, outside the timed calls.
        from agentwatch._state import STATE

        if STATE.evaluation_worker is not None:
            STATE.evaluation_worker.drain()

    for _ in range(3):
        one_run()
    settle()
    spans = exporter.get_finished_spans()
    events = sum(1 for span in spans for event in span.events if event.name == "gen_ai.evaluation.result")
    tiers = sorted(
        {
            str(event.attributes.get("agentwatch.evaluation.tier"))
            for span in spans
            for event in span.events
            if event.attributes
        }
    )
    print(json.dumps({"ready": True, "evaluation_events": events, "tiers": tiers}), flush=True)
    exporter.clear()
    for line in sys.stdin:
        runs = int(line)
        batch = []
        for _ in range(runs):
            batch.append(one_run())
            settle()
        exporter.clear()
        print(json.dumps(batch), flush=True)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rounds", type=int, default=20, help="rounds; each asks every configuration for runs"
    )
    parser.add_argument("--runs", type=int, default=5, help="5-step runs per configuration per round")
    parser.add_argument(
        "--model-ms",
        type=float,
        default=0.0,
        help="time each canned model answer waits, in ms (100 stands for a real 100 ms model call)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        child(arguments.child, arguments.model_ms)
        return
    print(f"nproc {os.cpu_count()}, load average before {os.getloadavg()}")
    processes = {
        name: subprocess.Popen(
            [sys.executable, __file__, "--child", name, "--model-ms", str(arguments.model_ms)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for name in CONFIGURATIONS
    }
    for name, process in processes.items():
        assert process.stdout is not None
        print(f"{name}: {process.stdout.readline().strip()}")
    times: dict[str, list[list[float]]] = {name: [] for name in CONFIGURATIONS}
    order = list(CONFIGURATIONS)
    rng = random.Random(11)
    for _ in range(arguments.rounds):
        rng.shuffle(order)
        for name in order:
            process = processes[name]
            assert process.stdin is not None and process.stdout is not None
            process.stdin.write(f"{arguments.runs}\n")
            process.stdin.flush()
            times[name].extend(json.loads(process.stdout.readline()))
    for process in processes.values():
        assert process.stdin is not None
        process.stdin.close()
        process.wait()
    print(f"load average after {os.getloadavg()}")
    runs = len(times["no policy"])
    print(f"\nms per create() call, {runs} runs of {STEPS} steps per configuration (wall clock)")
    print("step  evidence   configuration   p50      p99      added p50  added p99  added p50 / 100 ms")
    for step in range(STEPS):
        base = [run[step] for run in times["no policy"]]
        for name in CONFIGURATIONS:
            values = [run[step] for run in times[name]]
            p50, p99 = percentile(values, 0.5), percentile(values, 0.99)
            added50, added99 = p50 - percentile(base, 0.5), p99 - percentile(base, 0.99)
            added = (
                ""
                if name == "no policy"
                else f"{added50:9.2f}  {added99:9.2f}  {added50 / MODEL_CALL_MS:8.1%}"
            )
            print(f"{step + 1:>4}  ~{step + 1}k tok   {name:<14} {p50:7.2f}  {p99:7.2f}  {added}")
    print("\nall steps together")
    base_all = [value for run in times["no policy"] for value in run]
    for name in CONFIGURATIONS[1:]:
        values = [value for run in times[name] for value in run]
        added50 = percentile(values, 0.5) - percentile(base_all, 0.5)
        added99 = percentile(values, 0.99) - percentile(base_all, 0.99)
        print(
            f"  {name:<12} added p50 {added50:7.2f} ms ({added50 / MODEL_CALL_MS:.1%} of a 100 ms call)"
            f"  added p99 {added99:7.2f} ms ({added99 / MODEL_CALL_MS:.1%})"
        )


if __name__ == "__main__":
    main()
