"""A customer-support agent on the plain OpenAI SDK, traced by agentwatch with one line.

The agent answers each question in a loop: it searches the store policy and looks up the order
the customer names (tool steps), asks the model for an answer with both tools offered, and runs
any tool the model calls before asking again. Every run is one trace: an ``invoke_agent`` root,
``execute_tool`` steps and ``chat`` steps numbered in order.

SmolLM2 served by llama.cpp's ``llama-server`` answers in text and makes no tool calls, which is
why the agent runs the policy search and the order lookup itself before the first model call.
With a model that calls tools, the loop runs those calls as well.

With ``AGENTWATCH_POLICY=examples/policy.toml`` the same code runs under a policy: each answer is
checked for groundedness against the facts the tools returned, and an ungrounded answer from the
local route is replaced by the approved route's answer.

Run it through ``scripts/demo.sh``, or by hand against any OpenAI-compatible server:

    AGENTWATCH_MODEL_BASE_URL=http://127.0.0.1:8080/v1 python examples/support_agent.py
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

import openai

import agentwatch

BASE_URL = os.environ.get("AGENTWATCH_MODEL_BASE_URL", "http://127.0.0.1:8080/v1")
MODEL = os.environ.get("AGENTWATCH_MODEL", "smollm2")
MAX_MODEL_CALLS = 3

POLICIES = {
    "refund": (
        "Refund requests must be filed within 30 days of delivery. "
        "Refunds go back to the original payment method."
    ),
    "shipping": (
        "Standard shipping takes 3 to 5 business days. "
        "Express shipping takes 1 business day and costs 9.90 EUR."
    ),
    "returns": "Items can be returned within 30 days if they are unused and in their original packaging.",
}
ORDERS = {
    "42": {"order_id": "42", "status": "shipped", "shipped_on": "2026-11-28", "carrier": "DHL"},
    "1017": {"order_id": "1017", "status": "processing", "expected_ship_date": "2026-12-06"},
}

TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "search_policy",
            "description": "Search the store policy (refunds, shipping, returns).",
            "parameters": {
                "type": "object",
                "properties": {"query": {"type": "string", "description": "What to look up."}},
                "required": ["query"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "lookup_order",
            "description": "Look up an order's status by its id.",
            "parameters": {
                "type": "object",
                "properties": {"order_id": {"type": "string"}},
                "required": ["order_id"],
            },
        },
    },
]

SYSTEM = (
    "You are a helpful support agent for an online store. "
    "Answer in two sentences, using only the facts given."
)


def search_policy(query: str) -> str:
    words = set(re.findall(r"[a-z]+", query.lower()))
    hits = [text for topic, text in POLICIES.items() if topic in words or topic.rstrip("s") in words]
    return "\n".join(hits) or "No policy matches that query."


def lookup_order(order_id: str) -> str:
    order = ORDERS.get(order_id.strip().lstrip("#"))
    return json.dumps(order) if order else f"No order with id {order_id}."


def run_tool(name: str, arguments: dict[str, Any], call_id: str | None = None) -> str:
    with agentwatch.tool(name, call_id=call_id, arguments=arguments) as step:
        if name == "search_policy":
            result = search_policy(str(arguments.get("query", "")))
        elif name == "lookup_order":
            result = lookup_order(str(arguments.get("order_id", "")))
        else:
            result = f"Unknown tool {name}."
        step.set_result(result)
    return result


def answer(client: openai.OpenAI, question: str, session_id: str) -> tuple[str, str, str | None]:
    """Answer one customer question; return the answer, the model that gave it, and the trace id."""
    with agentwatch.trajectory("support-agent", session_id=session_id) as run:
        facts = [run_tool("search_policy", {"query": question})]
        order_id = re.search(r"\border\s*#?(\d+)", question, re.IGNORECASE)
        if order_id:
            facts.append(run_tool("lookup_order", {"order_id": order_id.group(1)}))

        messages: list[Any] = [
            {"role": "system", "content": SYSTEM + "\nFacts:\n" + "\n".join(facts)},
            {"role": "user", "content": question},
        ]
        reply, model = "", MODEL
        for _ in range(MAX_MODEL_CALLS):
            response = client.chat.completions.create(
                model=MODEL, messages=messages, tools=TOOLS, max_tokens=96, temperature=0.0, seed=7
            )
            message = response.choices[0].message
            reply, model = message.content or "", response.model
            if not message.tool_calls:
                break
            messages.append(message)
            for call in message.tool_calls:
                try:
                    arguments = json.loads(call.function.arguments or "{}")
                except ValueError:
                    arguments = {}
                result = run_tool(call.function.name, arguments, call.id)
                messages.append({"role": "tool", "tool_call_id": call.id, "content": result})
        return reply.strip(), model, run.trace_id


QUESTIONS = [
    ("s-1", "Where is my order 42?"),
    ("s-2", "How long do I have to ask for a refund?"),
    ("s-3", "My order 1017 has not shipped yet. How long does express shipping take?"),
]


def main() -> None:
    agentwatch.instrument(service_name="support-agent-demo")
    client = openai.OpenAI(
        base_url=BASE_URL, api_key=os.environ.get("OPENAI_API_KEY", "not-needed"), max_retries=1
    )
    for session_id, question in QUESTIONS:
        reply, model, trace_id = answer(client, question, session_id)
        print(f"Q: {question}\nA: {reply}\n   answered by {model}\n   trace {trace_id}\n")


if __name__ == "__main__":
    main()
