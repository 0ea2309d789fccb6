"""Per-query overhead of agentwatch on LlamaIndex, beside OpenInference and OpenLLMetry.

What it measures
    ``query_engine.query(...)`` on a ``RetrieverQueryEngine`` over a three-document
    ``VectorStoreIndex`` (top 2 retrieved), non-streaming: time per query. One query makes one
    retrieval, one query embedding, one synthesis and one LLM call, plus about fifteen internal
    dispatcher spans (text splitters, prompt helpers, private ``_query`` twins).

    Each is measured for bare LlamaIndex, agentwatch, OpenInference
    (openinference-instrumentation-llama-index) and OpenLLMetry
    (opentelemetry-instrumentation-llamaindex), with content capture off: ``TraceConfig(hide_inputs=True,
    hide_outputs=True)`` for OpenInference and ``TRACELOOP_TRACE_CONTENT=false`` for OpenLLMetry.

How it measures
    The model and the embeddings are LlamaIndex's in-process ``MockLLM`` and ``MockEmbedding``, so
    no server or network is involved and the bare time is LlamaIndex's own cost. Every
    configuration lives in its own subprocess of this interpreter, because the instrumentors all
    register on the same dispatcher. Each subprocess sets up the same tracing: an SDK
    ``TracerProvider`` with a ``BatchSpanProcessor`` and an exporter that counts spans and drops them.

    The subprocesses start together and warm up. Then, round after round, the parent requests one
    timed repeat from one subprocess at a time, in a new shuffled order each round. A repeat is a
    batch of queries ended by a ``force_flush``, so exporting the batch's spans counts toward it.
    The clock is the CPU time of the whole subprocess (``time.process_time``). An overhead is the
    median over the rounds of (this configuration's repeat minus the bare repeat of that round).

How to run
    uv pip install -p VENV/bin/python -e ".[llamaindex]" "openai>=2,<3" \\
        openinference-instrumentation-llama-index opentelemetry-instrumentation-llamaindex
    VENV/bin/python benchmarks/bench_llamaindex.py

    ``--help`` lists the count options.
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
import time
from collections.abc import Sequence
from importlib import metadata
from typing import Any

CONFIGS = ("bare", "agentwatch", "openinference", "openllmetry")
DOCUMENTS = (
    "Refund requests must be filed within 30 days of delivery.",
    "Standard shipping takes 5 business days inside the EU.",
    "Support answers email on weekdays from 9:00 to 17:00 CET.",
)


# --- the subprocess ------------------------------------------------------------------------


def make_tracer_provider() -> tuple[Any, Any]:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class CountingExporter(SpanExporter):
        def __init__(self) -> None:
            self.count = 0

        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            self.count += len(spans)
            return SpanExportResult.SUCCESS

    exporter = CountingExporter()
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider, exporter


def instrument(config: str, provider: Any) -> None:
    if config == "agentwatch":
        import agentwatch

        agentwatch.instrument(tracer_provider=provider, capture_content=False, integrations=["llamaindex"])
    elif config == "openinference":
        from openinference.instrumentation import TraceConfig
        from openinference.instrumentation.llama_index import LlamaIndexInstrumentor

        LlamaIndexInstrumentor().instrument(
            tracer_provider=provider, config=TraceConfig(hide_inputs=True, hide_outputs=True)
        )
    elif config == "openllmetry":
        from opentelemetry.instrumentation.llamaindex import LlamaIndexInstrumentor as OpenLLMetry

        OpenLLMetry().instrument(tracer_provider=provider)


def run_child(config: str, queries: int) -> None:
    provider, exporter = make_tracer_provider()
    instrument(config, provider)

    from llama_index.core import Document, VectorStoreIndex
    from llama_index.core.embeddings.mock_embed_model import MockEmbedding
    from llama_index.core.llms.mock import MockLLM

    index = VectorStoreIndex.from_documents(
        [Document(text=text) for text in DOCUMENTS], embed_model=MockEmbedding(embed_dim=16)
    )
    engine = index.as_query_engine(llm=MockLLM(max_tokens=16), similarity_top_k=2)
    for _ in range(50):
        engine.query("How long do I have to ask for a refund?")
    provider.force_flush()
    print(json.dumps({"ready": True}), flush=True)

    for line in sys.stdin:
        if line.strip() != "run":
            break
        engine.query("How long do I have to ask for a refund?")  # refill caches other runs evicted
        spans_before = exporter.count
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(queries):
            engine.query("How long do I have to ask for a refund?")
        provider.force_flush()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        spans = (exporter.count - spans_before) / queries
        print(json.dumps({"cpu": cpu / queries, "wall": wall / queries, "spans": spans}), flush=True)


# --- the parent ----------------------------------------------------------------------------


class Child:
    """The subprocess of one configuration, spoken to with one line each way."""

    def __init__(self, config: str, queries: int) -> None:
        env = dict(os.environ, TRACELOOP_TRACE_CONTENT="false", OTEL_SDK_DISABLED="false")
        command = [sys.executable, __file__, "--child", config, "--queries", str(queries)]
        self.config = config
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
        )

    def receive(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the {self.config} subprocess exited with code {self.process.wait()}")
        result: dict[str, Any] = json.loads(line)
        return result

    def run(self) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write("run\n")
        self.process.stdin.flush()
        return self.receive()

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(timeout=30)


def version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=15, help="timed repeats per configuration")
    parser.add_argument("--queries", type=int, default=100, help="queries per repeat")
    parser.add_argument("--child", choices=CONFIGS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        run_child(args.child, args.queries)
        return

    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
    for package in (
        "llama-index-core",
        "openinference-instrumentation-llama-index",
        "opentelemetry-instrumentation-llamaindex",
        "agentwatch",
    ):
        print(f"  {package} {version(package)}")

    children = {config: Child(config, args.queries) for config in CONFIGS}
    try:
        for child in children.values():
            child.receive()
        results: dict[str, list[dict[str, Any]]] = {config: [] for config in CONFIGS}
        for _ in range(args.rounds):
            order = list(CONFIGS)
            random.shuffle(order)
            for config in order:
                results[config].append(children[config].run())
    finally:
        for child in children.values():
            child.close()

    bare = results["bare"]
    overheads = {
        config: statistics.median(run["cpu"] - base["cpu"] for run, base in zip(runs, bare, strict=True))
        * 1e6
        for config, runs in results.items()
    }
    load = os.getloadavg()[0]
    print(f"\nper query, CPU time, median of {args.rounds} rounds of {args.queries} queries; load {load:.2f}")
    print(f"{'configuration':<15}{'time us':>10}{'wall us':>10}{'overhead us':>13}{'spans':>7}")
    for config, runs in results.items():
        cpu = statistics.median(run["cpu"] for run in runs) * 1e6
        wall = statistics.median(run["wall"] for run in runs) * 1e6
        overhead = "" if config == "bare" else f"{overheads[config]:.0f}"
        print(f"{config:<15}{cpu:>10.0f}{wall:>10.0f}{overhead:>13}{runs[0]['spans']:>7.1f}")
    leanest = min(overheads["openinference"], overheads["openllmetry"])
    print(
        f"\nagentwatch / OpenInference: {overheads['agentwatch'] / overheads['openinference']:.2f}; "
        f"agentwatch / OpenLLMetry: {overheads['agentwatch'] / overheads['openllmetry']:.2f}; "
        f"agentwatch / leanest anchor: {overheads['agentwatch'] / leanest:.2f} (target: at most 0.50)"
    )


if __name__ == "__main__":
    main()
