"""A LangGraph tool-calling support agent on local models, traced by agentwatch with one line.

The graph has three nodes. In ``route``, SmolLM2 on the llama-cpp-python server chooses a tool
(that server makes tool calls under the ``chatml-function-calling`` chat format). ``tools`` runs
the policy search or order lookup the model chose. In ``answer``, SmolLM2 on llama.cpp's
``llama-server`` writes the reply from the tool results. Each question becomes one trace: an
``invoke_agent support-agent`` root, ``chat`` and ``execute_tool`` steps numbered 1, 2, 3, with
the tool results kept as the run's evidence. The script prints each trace as a tree.

``answer`` puts the tool results into a fresh prompt instead of replaying the tool-call message,
because the llama-cpp-python server (0.3.36) rejects an assistant message whose content is null,
which is how langchain-openai sends a message that only calls tools.

Start both servers, then run the example:

    bash scripts/local_model.sh start
    bash scripts/tool_model.sh start
    python examples/langgraph_agent.py
"""

from __future__ import annotations

import os
from typing import Annotated, Any, TypedDict

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.prebuilt import ToolNode

import agentwatch
from agentwatch.cli import main as agentwatch_cli

TEXT_BASE_URL = os.environ.get("AGENTWATCH_MODEL_BASE_URL", "http://127.0.0.1:8080/v1")
TOOL_BASE_URL = os.environ.get("AGENTWATCH_TOOL_MODEL_BASE_URL", "http://127.0.0.1:8081/v1")
MODEL = os.environ.get("AGENTWATCH_MODEL", "smollm2")
# Both local servers ignore the key; the OpenAI client requires one.
API_KEY = "sk-local-servers-ignore-this-key"

POLICIES = {
    "refund": "Refund requests must be filed within 30 days of delivery.",
    "shipping": "Standard shipping takes 3 to 5 business days.",
}
ORDERS = {"4711": "Order 4711 was shipped on 2026-11-28 with DHL."}
QUESTIONS = [
    "What is the status of order 4711? Use a tool.",
    "How long do I have to request a refund? Use a tool.",
]


@tool
def search_policy(query: str) -> str:
    """Search the shop's policies (refunds, shipping) and return the matching text."""
    matches = [text for topic, text in POLICIES.items() if topic in query.lower()]
    return " ".join(matches) or " ".join(POLICIES.values())


@tool
def lookup_order(order_id: str) -> str:
    """Look up the delivery status of an order by its id."""
    digits = "".join(character for character in order_id if character.isdigit())
    return ORDERS.get(digits, f"No order with id {order_id!r} was found.")


TOOLS = [search_policy, lookup_order]


class State(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]
    trace_id: str | None


def route(state: State) -> dict[str, Any]:
    model = ChatOpenAI(
        model=MODEL, base_url=TOOL_BASE_URL, api_key=API_KEY, temperature=0.0, max_tokens=64, seed=7
    )
    reply = model.bind_tools(TOOLS, tool_choice="auto").invoke(state["messages"])
    return {"messages": [reply]}


def needs_tool(state: State) -> str:
    last = state["messages"][-1]
    return "tools" if isinstance(last, AIMessage) and last.tool_calls else "answer"


def answer(state: State) -> dict[str, Any]:
    question = next(m for m in state["messages"] if isinstance(m, HumanMessage))
    facts = "\n".join(str(m.content) for m in state["messages"] if isinstance(m, ToolMessage))
    model = ChatOpenAI(
        model=MODEL, base_url=TEXT_BASE_URL, api_key=API_KEY, temperature=0.0, max_tokens=48, seed=7
    )
    prompt = [
        SystemMessage(f"Answer in one sentence using only these facts:\n{facts or 'none'}"),
        HumanMessage(str(question.content)),
    ]
    reply = model.invoke(prompt)
    # Inside a node the agent run is current, so its trace id can be read here.
    run = agentwatch.current_run()
    return {"messages": [reply], "trace_id": run.trace_id if run is not None else None}


def build_graph() -> Any:
    graph = StateGraph(State)
    graph.add_node("route", route)
    graph.add_node("tools", ToolNode(TOOLS))
    graph.add_node("answer", answer)
    graph.add_edge(START, "route")
    graph.add_conditional_edges("route", needs_tool, ["tools", "answer"])
    graph.add_edge("tools", "answer")
    graph.add_edge("answer", END)
    return graph.compile(name="support-agent")


def main() -> None:
    handle = agentwatch.instrument(service_name="langgraph-support-agent")
    agent = build_graph()
    for number, question in enumerate(QUESTIONS, start=1):
        result = agent.invoke(
            {"messages": [HumanMessage(question)], "trace_id": None},
            {"configurable": {"thread_id": f"demo-{number}"}},
        )
        print(f"Q: {question}\nA: {result['messages'][-1].content}\n")
        handle.tracer_provider.force_flush()  # type: ignore[attr-defined]
        if result["trace_id"]:
            agentwatch_cli(["trace", result["trace_id"]])
        print()


if __name__ == "__main__":
    main()
