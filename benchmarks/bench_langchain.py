"""Overhead per LangChain chat-model invocation: agentwatch beside OpenInference and OpenLLMetry.

What it measures
    ``ChatOpenAI.invoke`` on a two-message prompt, time per call, for the bare libraries, agentwatch
    (``agentwatch.instrument()`` with its OpenAI and LangChain integrations, as a user gets it),
    OpenInference (openinference-instrumentation-langchain) and OpenLLMetry
    (opentelemetry-instrumentation-langchain), each with content capture off and on. Content off
    means ``TraceConfig(hide_inputs=True, hide_outputs=True)`` for OpenInference and
    ``TRACELOOP_TRACE_CONTENT=false`` for OpenLLMetry.

    One more row, ``one-span-floor``, is a reference rather than a product. Its callback handler
    starts one SDK span with ten fixed attributes at ``on_chat_model_start``, sets ten more at
    ``on_llm_end`` and ends it, and is registered the way the instrumentors register theirs. Its
    overhead is what LangChain's callback dispatch and one OpenTelemetry span of that size cost
    together, before a handler reads anything from the run.

How it measures
    The method of ``bench_openai.py``, whose helpers this script imports. Requests go to an
    in-process ``MockTransport`` that returns a canned completion. Every configuration runs in
    subprocesses of its own with the same ``TracerProvider``, ``BatchSpanProcessor`` and counting
    exporter. The parent requests one timed repeat per subprocess per round, in a new shuffled
    order each round. A repeat is a batch of calls ended by a ``force_flush``. A configuration's
    value in a round is the mean CPU time per call over its subprocesses. A reported time is the
    median of those values over the rounds. An overhead is the median over the rounds of (this
    configuration's value minus the bare value of the same round).

    Several subprocesses per configuration (``--processes``, default 3), because one subprocess
    can stay tens of microseconds per call faster or slower than another of the same
    configuration for its whole life, which the pairing by round does not cancel. The last column
    of the table is that spread: the largest minus the smallest subprocess median of the
    configuration.

How to run
    uv venv .venv-bench-langchain -p 3.11
    uv pip install -p .venv-bench-langchain/bin/python -e ".[openai,langchain]" \\
        openinference-instrumentation-langchain opentelemetry-instrumentation-langchain
    .venv-bench-langchain/bin/python benchmarks/bench_langchain.py

    ``--rounds``, ``--calls`` and ``--processes`` set the counts. CPU time rises on a loaded
    machine, so rerun when the load average printed before and after the run was high.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from typing import IO, Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bench_openai

MESSAGES = [
    ("system", "You are a support agent for an online shop. Answer briefly."),
    ("human", "Where is my order 4711? It was due yesterday."),
]


@dataclass(frozen=True)
class Config:
    name: str
    library: str  # "bare", "agentwatch", "openinference", "openllmetry" or "floor"
    capture_content: bool


CONFIGS = [
    Config("bare", "bare", False),
    Config("agentwatch-off", "agentwatch", False),
    Config("agentwatch-on", "agentwatch", True),
    Config("openinference-off", "openinference", False),
    Config("openinference-on", "openinference", True),
    Config("openllmetry-off", "openllmetry", False),
    Config("openllmetry-on", "openllmetry", True),
    Config("one-span-floor", "floor", False),
]
CONFIGS_BY_NAME = {config.name: config for config in CONFIGS}
ANCHORS = ("openinference", "openllmetry")


def instrument(config: Config, provider: Any) -> None:
    if config.library == "agentwatch":
        import agentwatch

        agentwatch.instrument(tracer_provider=provider, capture_content=config.capture_content)
    elif config.library == "openinference":
        from openinference.instrumentation import TraceConfig
        from openinference.instrumentation.langchain import LangChainInstrumentor

        hide = not config.capture_content
        LangChainInstrumentor().instrument(
            tracer_provider=provider, config=TraceConfig(hide_inputs=hide, hide_outputs=hide)
        )
    elif config.library == "openllmetry":
        os.environ["TRACELOOP_TRACE_CONTENT"] = "true" if config.capture_content else "false"
        from opentelemetry.instrumentation.langchain import LangchainInstrumentor

        LangchainInstrumentor().instrument(tracer_provider=provider)
    elif config.library == "floor":
        install_floor_handler(provider)


def install_floor_handler(provider: Any) -> None:
    """Register the ``one-span-floor`` handler on every callback manager, as the instrumentors do."""
    import wrapt
    from langchain_core.callbacks import BaseCallbackHandler
    from opentelemetry.trace import SpanKind

    tracer = provider.get_tracer("bench-floor")
    # Twenty attributes in all, the size of agentwatch's chat span for this prompt.
    start_attributes: dict[str, Any] = {f"floor.start.{index}": "value" for index in range(8)}
    start_attributes.update({"floor.start.8": 64, "floor.start.9": 1})
    end_attributes: dict[str, Any] = {f"floor.end.{index}": "value" for index in range(7)}
    end_attributes.update({"floor.end.7": ("stop",), "floor.end.8": 42, "floor.end.9": 17})

    class FloorHandler(BaseCallbackHandler):
        def __init__(self) -> None:
            self.spans: dict[Any, Any] = {}

        def on_chat_model_start(self, serialized: Any, messages: Any, *, run_id: Any, **kwargs: Any) -> None:
            self.spans[run_id] = tracer.start_span("chat", kind=SpanKind.CLIENT, attributes=start_attributes)

        def on_llm_end(self, response: Any, *, run_id: Any, **kwargs: Any) -> None:
            span = self.spans.pop(run_id, None)
            if span is not None:
                span.set_attributes(end_attributes)
                span.end()

    handler = FloorHandler()

    def add_handler(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> None:
        wrapped(*args, **kwargs)
        instance.add_handler(handler, True)

    wrapt.wrap_function_wrapper("langchain_core.callbacks", "BaseCallbackManager.__init__", add_handler)


def make_model() -> Any:
    """Build a ``ChatOpenAI`` whose requests get a canned completion from an in-process transport."""
    import openai
    from langchain_openai import ChatOpenAI

    httpx = bench_openai.import_httpx()
    body = bench_openai.completion_body()

    def handle(request: Any) -> Any:
        return httpx.Response(200, content=body, headers={"content-type": "application/json"})

    return ChatOpenAI(
        model=bench_openai.MODEL,
        api_key="sk-bench-not-a-real-key",
        base_url="http://127.0.0.1:9/v1",  # never contacted: the MockTransport returns every response
        max_retries=0,
        max_tokens=64,
        http_client=openai.DefaultHttpxClient(transport=httpx.MockTransport(handle)),
    )


def run_child(config: Config, warmup: int) -> None:
    protocol = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())

    provider, exporter = bench_openai.make_tracer_provider()
    instrument(config, provider)
    model = make_model()

    def invoke_once() -> None:
        reply = model.invoke(MESSAGES)
        if reply.content != bench_openai.ANSWER:
            raise RuntimeError(f"unexpected reply: {reply.content!r}")

    for _ in range(warmup):
        invoke_once()
    provider.force_flush()
    protocol.write(json.dumps({"ready": True}) + "\n")
    protocol.flush()
    for line in sys.stdin:
        request = json.loads(line)
        if request.get("quit"):
            break
        result = bench_openai.time_repeat(invoke_once, request["count"], provider, exporter)
        protocol.write(json.dumps(result) + "\n")
        protocol.flush()
    provider.shutdown()


class Child:
    """The subprocess of one configuration, spoken to with one JSON line each way."""

    def __init__(self, config: Config, warmup: int) -> None:
        self.config = config
        env = dict(os.environ)
        env["TRACELOOP_TRACE_CONTENT"] = "true" if config.capture_content else "false"
        env.pop("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", None)
        self.stderr: IO[bytes] = tempfile.TemporaryFile()
        command = [sys.executable, os.path.abspath(__file__), "--child", config.name, "--warmup", str(warmup)]
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, text=True, env=env
        )

    def receive(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            self.process.wait(timeout=30)
            self.stderr.seek(0)
            tail = self.stderr.read().decode(errors="replace")[-2000:]
            raise RuntimeError(f"{self.config.name} exited with code {self.process.returncode}: {tail}")
        result: dict[str, Any] = json.loads(line)
        return result

    def request(self, count: int) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"count": count}) + "\n")
        self.process.stdin.flush()
        return self.receive()

    def close(self) -> None:
        if self.process.poll() is None and self.process.stdin is not None:
            self.process.stdin.write(json.dumps({"quit": True}) + "\n")
            self.process.stdin.close()
            self.process.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="timed repeats per configuration")
    parser.add_argument("--calls", type=int, default=200, help="invocations per timed repeat")
    parser.add_argument("--warmup", type=int, default=100, help="untimed invocations per subprocess")
    parser.add_argument(
        "--processes", type=int, default=3, help="subprocesses per configuration, averaged in each round"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(CONFIGS_BY_NAME[args.child], args.warmup)
        return

    versions = ", ".join(
        f"{name} {bench_openai.package_version(name)}"
        for name in (
            "langchain-core",
            "langchain-openai",
            "openai",
            "opentelemetry-sdk",
            "openinference-instrumentation-langchain",
            "opentelemetry-instrumentation-langchain",
        )
    )
    print(f"Python {platform.python_version()}, {versions}")
    print(
        f"load average before: {os.getloadavg()[0]:.2f}; {args.rounds} rounds x {args.calls} calls, "
        f"{args.processes} subprocess(es) per configuration"
    )
    children = {
        (config.name, index): Child(config, args.warmup)
        for config in CONFIGS
        for index in range(args.processes)
    }
    # cpu[name][index]: that subprocess's CPU time per call, one value per round
    cpu: dict[str, list[list[float]]] = {
        config.name: [[] for _ in range(args.processes)] for config in CONFIGS
    }
    spans: dict[str, float] = {}
    try:
        for child in children.values():
            child.receive()
        for _ in range(args.rounds):
            order = list(children)
            random.shuffle(order)
            for name, index in order:
                result = children[(name, index)].request(args.calls)
                cpu[name][index].append(result["cpu"])
                spans[name] = result["spans"]
    finally:
        for child in children.values():
            child.close()
    print(f"load average after: {os.getloadavg()[0]:.2f}\n")

    # One value per round: the mean over the configuration's subprocesses.
    samples = {
        name: [statistics.fmean(values) for values in zip(*runs, strict=True)] for name, runs in cpu.items()
    }
    overheads: dict[str, float] = {}
    header = f"{'configuration':<20}{'µs/call':>10}{'overhead µs':>13}{'spans/call':>12}"
    print(header + (f"{'process spread µs':>19}" if args.processes > 1 else ""))
    for name, values in samples.items():
        time_us = statistics.median(values) * 1e6
        overhead = ""
        if name != "bare":
            deltas = [value - bare for value, bare in zip(values, samples["bare"], strict=True)]
            overheads[name] = statistics.median(deltas) * 1e6
            overhead = f"{overheads[name]:.1f}"
        line = f"{name:<20}{time_us:>10.1f}{overhead:>13}{spans[name]:>12.1f}"
        if args.processes > 1:
            medians = [statistics.median(runs) * 1e6 for runs in cpu[name]]
            line += f"{max(medians) - min(medians):>19.1f}"
        print(line)

    print()
    for mode in ("off", "on"):
        ours = overheads[f"agentwatch-{mode}"]
        anchors = {anchor: overheads[f"{anchor}-{mode}"] for anchor in ANCHORS}
        leanest = min(anchors, key=lambda anchor: anchors[anchor])
        ratios = ", ".join(f"{ours / value:.2f}x of {anchor}" for anchor, value in anchors.items())
        verdict = "met" if ours <= anchors[leanest] / 2 else "missed"
        print(f"content {mode}: agentwatch overhead is {ratios}; target (half of {leanest}) {verdict}")
    floor = overheads["one-span-floor"]
    leanest_off = min(overheads[f"{anchor}-off"] for anchor in ANCHORS)
    print(
        f"one-span floor: {floor:.1f} µs, {floor / leanest_off:.2f}x of the leanest anchor with content off; "
        f"agentwatch adds {overheads['agentwatch-off'] - floor:.1f} µs above it with content off"
    )


if __name__ == "__main__":
    main()
