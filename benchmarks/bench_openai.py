"""Per-call and per-chunk overhead of agentwatch on the OpenAI SDK, beside OpenInference and OpenLLMetry.

What it measures
    * ``client.chat.completions.create`` without streaming: time per call.
    * The same call with ``stream=True`` over a 100-chunk stream (99 content chunks, the last one
      with ``finish_reason``, then a usage chunk), iterated to the end: time per chunk. That is the
      time per stream divided by 100, so it includes the span's start and end spread over the chunks.

    Each is measured for the bare SDK, agentwatch, OpenInference (openinference-instrumentation-openai)
    and OpenLLMetry (opentelemetry-instrumentation-openai), with content capture off and on. The
    anchors capture content by default. Content off means ``TraceConfig(hide_inputs=True,
    hide_outputs=True)`` for OpenInference and ``TRACELOOP_TRACE_CONTENT=false`` for OpenLLMetry.

How it measures
    Requests go to an in-process ``MockTransport`` (httpx for openai 2.x, httpx2 for openai 3.x) that
    returns canned bytes, so no server or network is involved and the bare time is the SDK's own cost.
    Every configuration lives in its own subprocess of this interpreter, because all three
    instrumentors patch the same SDK methods. Each subprocess sets up the same tracing: an SDK
    ``TracerProvider`` with a ``BatchSpanProcessor`` and an exporter that counts spans and drops them.
    No ``MeterProvider`` is set, so metrics go to the no-op API for every configuration.

    The subprocesses start together and make their warm-up calls. Then, round after round, the
    parent requests one timed repeat of each workload from one subprocess at a time, in a new
    shuffled order each time. A repeat is a batch of calls or streams ended by a ``force_flush``,
    so exporting the batch's spans counts toward it. A change in machine load therefore hits every
    configuration alike. A reported time is the median over the rounds. An overhead is the median
    over the rounds of (this configuration's repeat minus the bare SDK's repeat of the same round).

    The default clock is the CPU time of the whole subprocess (``time.process_time``), which counts
    the span processor's export thread and leaves out the time other programs held the CPU. Wall
    time is printed beside it.

How to run
    uv venv .venv-bench3 -p 3.11
    uv pip install -p .venv-bench3/bin/python -e ".[bench]" "openai>=3,<4"
    .venv-bench3/bin/python benchmarks/bench_openai.py

    Use ``"openai>=2,<3"`` in a second venv for openai 2.x. ``--help`` lists the count options and
    ``--json PATH`` writes the raw repeat times. With the defaults a run took 100 to 140 s on 2
    cores while another program kept them busy. The load average is printed before and after the
    run. CPU time also rises on a loaded machine, so rerun when the load was high.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import IO, Any

STREAM_CHUNKS = 100
MODEL = "gpt-4o-mini"
MESSAGES = [
    {"role": "system", "content": "You are a support agent for an online shop. Answer briefly."},
    {"role": "user", "content": "Where is my order 4711? It was due yesterday."},
]
ANSWER = "Your order 4711 left the warehouse yesterday and should arrive tomorrow."
CLOCKS = ("cpu", "wall")
WORKLOADS = ("call", "stream")


@dataclass(frozen=True)
class Config:
    """One way of running the SDK: bare or under one instrumentor."""

    name: str
    label: str
    library: str  # "bare", "agentwatch", "openinference" or "openllmetry"
    capture_content: bool


CONFIGS = [
    Config("bare", "bare openai SDK", "bare", False),
    Config("agentwatch-off", "agentwatch", "agentwatch", False),
    Config("agentwatch-on", "agentwatch", "agentwatch", True),
    Config("openinference-off", "OpenInference", "openinference", False),
    Config("openinference-on", "OpenInference", "openinference", True),
    Config("openllmetry-off", "OpenLLMetry", "openllmetry", False),
    Config("openllmetry-on", "OpenLLMetry", "openllmetry", True),
]
CONFIGS_BY_NAME = {config.name: config for config in CONFIGS}
ANCHORS = ("openinference", "openllmetry")


# ---------------------------------------------------------------------------------------------
# Child process: one configuration, driven by JSON lines on stdin.
# ---------------------------------------------------------------------------------------------


def import_httpx() -> Any:
    """Import the httpx module that this openai version talks through (httpx2 for openai 3.x)."""
    import openai

    module = importlib.import_module(openai.DefaultHttpxClient.__mro__[1].__module__.split(".")[0])
    if not hasattr(module, "MockTransport"):
        module = importlib.import_module("httpx2" if openai.__version__.startswith("3.") else "httpx")
    return module


def completion_body() -> bytes:
    body = {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1700000000,
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": ANSWER},
            }
        ],
        "usage": {"prompt_tokens": 42, "completion_tokens": 17, "total_tokens": 59},
    }
    return json.dumps(body).encode()


def stream_body() -> bytes:
    """Build an SSE body of exactly STREAM_CHUNKS chunks: content deltas, then one usage chunk."""
    events: list[dict[str, Any]] = []
    content_chunks = STREAM_CHUNKS - 1
    for index in range(content_chunks):
        delta: dict[str, Any] = {"content": f"word{index} "}
        if index == 0:
            delta["role"] = "assistant"
        last = index == content_chunks - 1
        events.append(
            {
                "id": "chatcmpl-bench-stream",
                "object": "chat.completion.chunk",
                "created": 1700000000,
                "model": MODEL,
                "choices": [{"index": 0, "delta": delta, "finish_reason": "stop" if last else None}],
            }
        )
    events.append(
        {
            "id": "chatcmpl-bench-stream",
            "object": "chat.completion.chunk",
            "created": 1700000000,
            "model": MODEL,
            "choices": [],
            "usage": {"prompt_tokens": 42, "completion_tokens": content_chunks, "total_tokens": 141},
        }
    )
    lines = [f"data: {json.dumps(event)}\n\n" for event in events]
    lines.append("data: [DONE]\n\n")
    return "".join(lines).encode()


def make_client() -> Any:
    """Build an ``openai.OpenAI`` client whose requests get canned bytes from an in-process transport."""
    import openai

    httpx = import_httpx()
    completion = completion_body()
    stream = stream_body()

    def handle(request: Any) -> Any:
        if json.loads(request.content).get("stream"):
            return httpx.Response(200, content=stream, headers={"content-type": "text/event-stream"})
        return httpx.Response(200, content=completion, headers={"content-type": "application/json"})

    return openai.OpenAI(
        api_key="sk-bench-not-a-real-key",
        base_url="http://127.0.0.1:9/v1",  # never contacted, because the MockTransport handles every request
        max_retries=0,
        http_client=openai.DefaultHttpxClient(transport=httpx.MockTransport(handle)),
    )


def make_tracer_provider() -> tuple[Any, Any]:
    """Set up the tracing every configuration shares, and return the provider and its span counter."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class CountingExporter(SpanExporter):
        """Count spans and drop them, so export costs the same, and little, for every configuration."""

        def __init__(self) -> None:
            self.spans = 0

        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            self.spans += len(spans)
            return SpanExportResult.SUCCESS

    exporter = CountingExporter()
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider, exporter


def instrument(config: Config, provider: Any) -> None:
    if config.library == "agentwatch":
        import agentwatch

        agentwatch.instrument(tracer_provider=provider, capture_content=config.capture_content)
    elif config.library == "openinference":
        from openinference.instrumentation import TraceConfig
        from openinference.instrumentation.openai import OpenAIInstrumentor

        hide = not config.capture_content
        OpenAIInstrumentor().instrument(
            tracer_provider=provider, config=TraceConfig(hide_inputs=hide, hide_outputs=hide)
        )
    elif config.library == "openllmetry":
        # OpenLLMetry reads this variable on every call. The parent also sets it in the child's env.
        os.environ["TRACELOOP_TRACE_CONTENT"] = "true" if config.capture_content else "false"
        from opentelemetry.instrumentation.openai import OpenAIInstrumentor

        OpenAIInstrumentor().instrument(tracer_provider=provider)


def call_once(client: Any) -> None:
    response = client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=64)
    if response.choices[0].message.content != ANSWER:
        raise RuntimeError(f"unexpected completion content: {response.choices[0].message.content!r}")


def stream_once(client: Any) -> None:
    chunks = 0
    stream = client.chat.completions.create(
        model=MODEL,
        messages=MESSAGES,
        max_tokens=128,
        stream=True,
        stream_options={"include_usage": True},
    )
    for _ in stream:
        chunks += 1
    if chunks != STREAM_CHUNKS:
        raise RuntimeError(f"expected {STREAM_CHUNKS} chunks, got {chunks}")


def time_repeat(run: Callable[[], None], count: int, provider: Any, exporter: Any) -> dict[str, float]:
    """Time ``count`` runs plus the flush of their spans, and return seconds and spans per run."""
    run()  # refill caches that the other subprocesses' repeats evicted
    provider.force_flush()
    gc.collect()
    spans_before = exporter.spans
    wall_start = time.perf_counter()
    cpu_start = time.process_time()
    for _ in range(count):
        run()
    provider.force_flush()
    cpu = time.process_time() - cpu_start
    wall = time.perf_counter() - wall_start
    return {"cpu": cpu / count, "wall": wall / count, "spans": (exporter.spans - spans_before) / count}


def run_child(config: Config, args: argparse.Namespace) -> None:
    # Keep the protocol channel to ourselves: anything the libraries print goes to stderr.
    protocol = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())

    def reply(message: dict[str, Any]) -> None:
        protocol.write(json.dumps(message) + "\n")
        protocol.flush()

    provider, exporter = make_tracer_provider()
    instrument(config, provider)
    client = make_client()
    workloads = {"call": lambda: call_once(client), "stream": lambda: stream_once(client)}
    for _ in range(args.warmup_calls):
        workloads["call"]()
    for _ in range(args.warmup_streams):
        workloads["stream"]()
    provider.force_flush()
    reply({"ready": True})

    for line in sys.stdin:
        request = json.loads(line)
        if request["workload"] == "quit":
            break
        reply(time_repeat(workloads[request["workload"]], request["count"], provider, exporter))
    provider.shutdown()


# ---------------------------------------------------------------------------------------------
# Parent process: drive the children, print the tables.
# ---------------------------------------------------------------------------------------------


class ChildFailedError(RuntimeError):
    """A configuration's subprocess exited or sent something other than a result."""


class Child:
    """The subprocess of one configuration, spoken to with one JSON line each way."""

    def __init__(self, config: Config, args: argparse.Namespace) -> None:
        self.config = config
        env = dict(os.environ)
        env["TRACELOOP_TRACE_CONTENT"] = "true" if config.capture_content else "false"
        # agentwatch gets capture_content as an argument; keep the environment from overriding it.
        env.pop("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", None)
        self.stderr: IO[bytes] = tempfile.TemporaryFile()
        command = [
            sys.executable,
            os.path.abspath(__file__),
            "--child",
            config.name,
            "--warmup-calls",
            str(args.warmup_calls),
            "--warmup-streams",
            str(args.warmup_streams),
        ]
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, text=True, env=env
        )

    def receive(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            self.process.wait(timeout=30)
            raise ChildFailedError(
                f"the subprocess exited with code {self.process.returncode}: {self.stderr_tail()}"
            )
        try:
            message: dict[str, Any] = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ChildFailedError(f"the subprocess sent invalid JSON {line!r}: {exc}") from exc
        return message

    def request(self, workload: str, count: int) -> dict[str, Any]:
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(json.dumps({"workload": workload, "count": count}) + "\n")
            self.process.stdin.flush()
        except BrokenPipeError as exc:
            raise ChildFailedError(f"the subprocess exited before the request: {self.stderr_tail()}") from exc
        return self.receive()

    def stderr_tail(self) -> str:
        self.stderr.seek(0)
        lines = self.stderr.read().decode(errors="replace").strip().splitlines()
        return " | ".join(lines[-3:]) or "no output on stderr"

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                self.request("quit", 0)
            except ChildFailedError:
                pass  # "quit" gets no reply, so the expected end of the stream lands here
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.stderr.close()


@dataclass
class Outcome:
    """The per-round results of one configuration."""

    config: Config
    # Seconds per call and per stream of every round, by workload and clock.
    seconds: dict[str, dict[str, list[float]]] = field(
        default_factory=lambda: {workload: {clock: [] for clock in CLOCKS} for workload in WORKLOADS}
    )
    spans: dict[str, list[float]] = field(default_factory=lambda: {workload: [] for workload in WORKLOADS})
    error: str | None = None

    def add(self, workload: str, result: dict[str, float]) -> None:
        for clock in CLOCKS:
            self.seconds[workload][clock].append(result[clock])
        self.spans[workload].append(result["spans"])

    def problem(self) -> str | None:
        """Return why this configuration's numbers must not be compared, or None when they can be."""
        if self.error is not None:
            return self.error
        if self.config.library != "bare" and any(min(spans, default=0) < 1 for spans in self.spans.values()):
            return "some repeats produced no spans, so it does not trace this openai version"
        return None


def to_us(workload: str, seconds: float) -> float:
    """Convert seconds per call or per stream to µs per call or per chunk."""
    return seconds * 1e6 / (STREAM_CHUNKS if workload == "stream" else 1)


def package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def format_us(value: float | None, sign: str = "") -> str:
    return "-" if value is None else f"{value:{sign}.1f}"


def format_ratio(numerator: float | None, denominator: float | None) -> str:
    if numerator is None or denominator is None:
        return "-"
    if numerator <= 0 or denominator <= 0:
        return "n/a"  # an overhead at or below zero is noise, so a ratio would mean nothing
    return f"{numerator / denominator:.2f}"


class Table:
    """The medians of one workload on one clock, and the checks against the target."""

    def __init__(self, outcomes: dict[str, Outcome], workload: str, clock: str) -> None:
        self.outcomes = outcomes
        self.workload = workload
        self.clock = clock

    def samples(self, name: str, clock: str | None = None) -> list[float] | None:
        outcome = self.outcomes.get(name)
        if outcome is None or outcome.problem() is not None:
            return None
        return outcome.seconds[self.workload][clock or self.clock]

    def time_us(self, name: str, clock: str | None = None) -> float | None:
        samples = self.samples(name, clock)
        return to_us(self.workload, statistics.median(samples)) if samples else None

    def spread_us(self, name: str) -> str:
        """Return the interquartile range of the per-repeat times, which shows the noise."""
        samples = self.samples(name)
        if not samples or len(samples) < 4:
            return "-"
        low, _, high = statistics.quantiles(samples, n=4)
        return f"{to_us(self.workload, low):.0f}-{to_us(self.workload, high):.0f}"

    def overhead_us(self, name: str) -> float | None:
        """Return the median over the rounds of (this configuration minus bare) in the same round."""
        samples, bare = self.samples(name), self.samples("bare")
        if not samples or not bare or len(samples) != len(bare):
            return None
        return to_us(self.workload, statistics.median(a - b for a, b in zip(samples, bare, strict=True)))

    def print(self, title: str, unit: str) -> list[str]:
        """Print the table and the target checks; return the check lines for the summary."""
        other_clock = "wall" if self.clock == "cpu" else "cpu"
        print(f"\n{title}")
        header = (
            f"{'configuration':<16} {'content':<8} {unit + ' ' + self.clock:>14} {'IQR':>11} "
            f"{'overhead µs':>12} {'agentwatch/this':>16} {unit + ' ' + other_clock:>14}  spans"
        )
        print(header)
        print("-" * len(header))
        for name, outcome in self.outcomes.items():
            self.print_row(name, outcome, other_clock)
        checks = [self.target_check(mode) for mode in ("off", "on")]
        for check in checks:
            print(check)
        return checks

    def print_row(self, name: str, outcome: Outcome, other_clock: str) -> None:
        config = outcome.config
        if config.library == "bare":
            content = "-"
        else:
            content = "on" if config.capture_content else "off"
        ratio = "-"
        if config.library in ANCHORS:
            ratio = format_ratio(self.overhead_us(f"agentwatch-{content}"), self.overhead_us(name))
        spans = outcome.spans[self.workload]
        spans_text = "-" if not spans or config.library == "bare" else f"{statistics.median(spans):g}"
        overhead = "-" if name == "bare" else format_us(self.overhead_us(name), "+")
        print(
            f"{config.label:<16} {content:<8} {format_us(self.time_us(name)):>14} {self.spread_us(name):>11} "
            f"{overhead:>12} {ratio:>16} {format_us(self.time_us(name, other_clock)):>14}  {spans_text}"
        )
        if outcome.problem() is not None:
            print(f"    {config.label} (content {content}) has no numbers: {outcome.problem()}")

    def target_check(self, mode: str) -> str:
        """Compare agentwatch with the leanest anchor: its overhead must be at most half of that one's."""
        measured = []
        for library in ANCHORS:
            name = f"{library}-{mode}"
            cost = self.overhead_us(name) if name in self.outcomes else None
            if cost is not None:
                measured.append((self.outcomes[name].config.label, cost))
        ours = self.overhead_us(f"agentwatch-{mode}")
        if not measured or ours is None:
            return f"content {mode}: no target check, because agentwatch or every anchor has no numbers"

        label, leanest = min(measured, key=lambda item: item[1])
        line = f"content {mode}: leanest anchor {label} {leanest:+.1f} µs, agentwatch {ours:+.1f} µs"
        if leanest <= 0:
            return line + "; no target check, because the leanest anchor's overhead is within the noise"
        if ours <= 0:
            return (
                line
                + "; target (at most 0.50x) MET (agentwatch's overhead is at or below zero, within the noise)"
            )
        verdict = "MET" if ours <= 0.5 * leanest else "NOT MET"
        return line + f" = {format_ratio(ours, leanest)}x; target (at most 0.50x) {verdict}"


def print_environment(args: argparse.Namespace) -> None:
    import openai

    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            cpu = next(
                (line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), cpu
            )
    except OSError:
        pass
    print(f"python {platform.python_version()} ({sys.executable}); {os.cpu_count()} CPUs, {cpu}")
    httpx_name = import_httpx().__name__
    versions = [f"openai {openai.__version__}", f"{httpx_name} {package_version(httpx_name)}"]
    for package in (
        "agentwatch",
        "openinference-instrumentation-openai",
        "opentelemetry-instrumentation-openai",
        "opentelemetry-sdk",
        "wrapt",
    ):
        versions.append(f"{package} {package_version(package)}")
    print("; ".join(versions))
    print(
        f"per subprocess: {args.warmup_calls} warm-up calls and {args.warmup_streams} warm-up streams, "
        f"then {args.repeats} rounds, each with one repeat of {args.calls} calls and one repeat of "
        f"{args.streams} streams of {STREAM_CHUNKS} chunks; the subprocesses take turns in a shuffled order"
    )


def run_rounds(children: list[Child], outcomes: dict[str, Outcome], args: argparse.Namespace) -> None:
    """Time one repeat of each workload per live child per round, in a new shuffled order each time."""
    order = random.Random(args.seed)
    for round_index in range(args.repeats):
        print(f"round {round_index + 1}/{args.repeats}", file=sys.stderr, flush=True)
        for workload, count in (("call", args.calls), ("stream", args.streams)):
            live = [child for child in children if outcomes[child.config.name].error is None]
            order.shuffle(live)
            for child in live:
                try:
                    outcomes[child.config.name].add(workload, child.request(workload, count))
                except ChildFailedError as exc:
                    outcomes[child.config.name].error = str(exc)


def run_parent(args: argparse.Namespace) -> None:
    import openai

    selected = [CONFIGS_BY_NAME[name] for name in args.configs]
    outcomes = {config.name: Outcome(config) for config in selected}
    print_environment(args)
    load_before = os.getloadavg()
    print(f"load average before: {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}")
    started = time.perf_counter()

    children = [Child(config, args) for config in selected]
    try:
        for child in children:
            try:
                child.receive()  # the "ready" line, sent after the warm-up
            except ChildFailedError as exc:
                outcomes[child.config.name].error = str(exc)
        run_rounds(children, outcomes, args)
    finally:
        for child in children:
            child.close()

    elapsed = time.perf_counter() - started
    load_after = os.getloadavg()
    print(
        f"load average after: {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}; "
        f"run took {elapsed:.0f} s"
    )

    version = openai.__version__
    summary = []
    for workload, title, unit in (
        ("call", f"chat.completions.create, not streamed: time per call (openai {version})", "µs/call"),
        (
            "stream",
            f"chat.completions.create, {STREAM_CHUNKS}-chunk stream: time per chunk (openai {version})",
            "µs/chunk",
        ),
    ):
        checks = Table(outcomes, workload, args.clock).print(title, unit)
        summary += [f"{title.split(':')[0]}, {check}" for check in checks]
    print(
        f"\nTimes are medians of the {args.clock} clock over the rounds, IQR is their interquartile "
        f"range, and the other clock is beside them for reference.\n"
        "overhead = median over the rounds of (this configuration minus bare in the same round).\n"
        "agentwatch/this = agentwatch's overhead / this anchor's overhead, with the same content setting."
    )
    print("\n".join(["", "summary:", *summary]))

    if args.json:
        raw = {
            "openai": version,
            "load_before": load_before,
            "load_after": load_after,
            "outcomes": {
                name: {"seconds": outcome.seconds, "spans": outcome.spans, "error": outcome.error}
                for name, outcome in outcomes.items()
            },
        }
        with open(args.json, "w") as output:
            json.dump(raw, output, indent=2)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])

    parser.add_argument("--calls", type=int, default=60, help="non-streamed calls per timed repeat")
    parser.add_argument("--streams", type=int, default=6, help="100-chunk streams per timed repeat")
    parser.add_argument(
        "--repeats",
        type=int,
        default=30,
        help="rounds; each round times one repeat of each workload per configuration",
    )
    parser.add_argument("--warmup-calls", type=int, default=100, help="untimed calls before the rounds")
    parser.add_argument("--warmup-streams", type=int, default=10, help="untimed streams before the rounds")

    parser.add_argument(
        "--clock",
        choices=CLOCKS,
        default="cpu",
        help="clock for the overheads: cpu (process CPU time, steadier on a shared machine) or wall",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the per-round shuffle")
    parser.add_argument(
        "--configs",
        type=lambda text: text.split(","),
        default=[config.name for config in CONFIGS],
        help=f"comma-separated subset of: {','.join(CONFIGS_BY_NAME)} (keep bare for the overheads)",
    )
    parser.add_argument("--json", metavar="PATH", help="also write the raw repeat times to PATH as JSON")
    parser.add_argument("--child", metavar="CONFIG", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    unknown = [name for name in args.configs if name not in CONFIGS_BY_NAME]
    if unknown:
        parser.error(f"unknown configuration(s) {','.join(unknown)}; choose from {','.join(CONFIGS_BY_NAME)}")
    if min(args.calls, args.streams, args.repeats) < 1:
        parser.error("--calls, --streams and --repeats must be at least 1")
    if min(args.warmup_calls, args.warmup_streams) < 0:
        parser.error("--warmup-calls and --warmup-streams must be 0 or more")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.child:
        run_child(CONFIGS_BY_NAME[args.child], args)
    else:
        run_parent(args)


if __name__ == "__main__":
    main()
