"""Benchmark writing LangChain messages as ``gen_ai.input.messages`` JSON: shortcut against general path.

Run from the repository root, in an environment with the ``langchain`` extra:

    python benchmarks/bench_messages.py [--repeat N]

With content capture on, the LangChain handler writes the request messages as JSON on every chat
model call. The general path converts each message to an OpenAI-format dict, then to a
semantic-convention dict, and encodes the list. The shortcut writes text-only messages straight to
JSON and sends the others through the general path. Both give the same string, which the script
checks before timing. Inputs: the two-message prompt of ``bench_langchain.py``, and a
six-message tool-calling conversation in which two messages (a tool call and its result) take the
general path. Each case is timed ``--repeat`` times in 7 rounds. The table gives the median time
per call in microseconds and the ratio of the shortcut to the general path.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage  # noqa: E402

from agentwatch._messages import dumps, input_messages  # noqa: E402
from agentwatch.integrations.langchain._extract import input_messages_json, openai_messages  # noqa: E402

PROMPT = [
    SystemMessage("You are a support agent for an online shop. Answer briefly."),
    HumanMessage("Where is my order 4711? It was due yesterday."),
]
CONVERSATION = [
    *PROMPT,
    AIMessage("", tool_calls=[{"name": "lookup_order", "args": {"order": "4711"}, "id": "call_1"}]),
    ToolMessage("Order 4711 left the warehouse on 2026-11-28 with DHL.", tool_call_id="call_1"),
    AIMessage("Your order left the warehouse on 28 November and is on its way with DHL."),
    HumanMessage("Thanks! Can I still change the delivery address?"),
]


def general_path(messages: list[Any]) -> str:
    return dumps(input_messages(openai_messages(messages)))


def time_per_call(function: Callable[[], object], repeat: int) -> float:
    """Return the median over 7 rounds of the time per call, in microseconds."""
    rounds = timeit.repeat(function, number=repeat, repeat=7)
    return statistics.median(rounds) / repeat * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20_000, help="calls per timed round")
    args = parser.parse_args()

    print(f"Python {sys.version.split()[0]}; median of 7 rounds of {args.repeat} calls")
    print(f"{'input':<26}{'general µs':>12}{'shortcut µs':>13}{'ratio':>8}")
    for name, messages in (("two-message prompt", PROMPT), ("six-message conversation", CONVERSATION)):
        if input_messages_json(messages) != general_path(messages):
            raise SystemExit(f"{name}: the shortcut and the general path wrote different JSON")
        general = time_per_call(lambda messages=messages: general_path(messages), args.repeat)
        shortcut = time_per_call(lambda messages=messages: input_messages_json(messages), args.repeat)
        print(f"{name:<26}{general:>12.2f}{shortcut:>13.2f}{shortcut / general:>8.2f}")


if __name__ == "__main__":
    main()
