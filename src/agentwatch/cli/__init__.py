"""The `agentwatch` command: read the embedded trace store from a terminal.

Commands:
    agentwatch report [--since 1h] [--json]   latency, errors, tokens and policy per model and route
    agentwatch traces [--limit N] [--json]    recent runs, newest first
    agentwatch trace ID                       one run as a tree; ID may be an 8+ character prefix

`--db PATH` (before or after the command) selects the database; the default is the
`AGENTWATCH_DB` environment variable, else `.agentwatch/traces.db`. A user error prints one
line to stderr and exits with status 1; a usage error exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections.abc import Sequence
from typing import TextIO

from agentwatch._config import DEFAULT_DB_PATH
from agentwatch.cli._report import render_report, summarize_routes
from agentwatch.cli._traces import render_traces, render_tree, summarize_trace
from agentwatch.store import StoreError, TraceStore

__all__ = ["main"]

DB_ENV_VAR = "AGENTWATCH_DB"

_PROG = "agentwatch"
_DEFAULT_LIMIT = 20
_SHORT_TRACE_ID = 16
_SECONDS_PER_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SINCE = re.compile(r"(\d+)([smhdw])")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `agentwatch` command line and return its exit status.

    Example:
        ``sys.exit(main(["report", "--since", "1h"]))`` prints the last hour's report.
    """
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_request:
        # argparse exits with 2 on a usage error and 0 after --help.
        return exit_request.code if isinstance(exit_request.code, int) else 2

    db_path = getattr(args, "db", None) or os.environ.get(DB_ENV_VAR, "").strip() or DEFAULT_DB_PATH
    try:
        with TraceStore.open(db_path) as store:
            if args.command == "report":
                _report(store, args.since, args.json, sys.stdout)
            elif args.command == "traces":
                _traces(store, args.limit, args.json, sys.stdout)
            else:
                _trace(store, args.trace_id, sys.stdout)
    except StoreError as error:
        print(f"{_PROG}: error: {error}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # The reader of a pipe (`agentwatch traces | head`) closed it early. Point stdout at
        # devnull so the flush at interpreter exit does not print a second error, as the
        # Python documentation of SIGPIPE handling recommends.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    return 0


def _build_parser() -> argparse.ArgumentParser:
    # --db lives on the top parser and on each command, so it works before or after the
    # command name. SUPPRESS keeps a command's parser from overwriting a value given earlier.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--db",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help=f"trace database to read (default: ${DB_ENV_VAR}, else {DEFAULT_DB_PATH})",
    )

    parser = argparse.ArgumentParser(
        prog=_PROG,
        parents=[common],
        description="Read the traces that agentwatch stored on this machine.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    report = commands.add_parser(
        "report",
        parents=[common],
        help="latency, errors, tokens and policy figures per model and route",
        description="Summarize model calls per model and route: calls, errors (spans with "
        "ERROR status), p50 and p99 latency in ms, p50 time to first streamed chunk (ttft) in "
        "ms, total input and output tokens, and tokens per trace. Below the table, a section "
        "per route shows failed/evaluated calls by evaluator, fallbacks out of and into the "
        "route, guardrail actions taken, timeouts, and the mean cost in USD per trace with "
        "priced calls, and a table per mirrored route pair compares p50 latency, evaluations "
        "passed, tokens and cost of the primary and mirror calls. Mirror calls are not counted "
        "in the rows.",
    )
    report.add_argument(
        "--since",
        type=_parse_since,
        metavar="AGE",
        help="only model calls that started within AGE, for example 30m, 1h or 7d (units: s, m, h, d, w)",
    )
    report.add_argument("--json", action="store_true", help="print JSON instead of a table")

    traces = commands.add_parser("traces", parents=[common], help="recent runs, newest first")
    traces.add_argument(
        "--limit",
        type=_parse_limit,
        default=_DEFAULT_LIMIT,
        metavar="N",
        help=f"number of runs to show (default: {_DEFAULT_LIMIT})",
    )
    traces.add_argument("--json", action="store_true", help="print JSON instead of a table")

    trace = commands.add_parser("trace", parents=[common], help="one run as a tree of spans")
    trace.add_argument("trace_id", metavar="ID", help="trace id, or a unique prefix of 8+ hex characters")
    return parser


def _parse_since(text: str) -> int:
    match = _SINCE.fullmatch(text.strip().lower())
    if match is None or int(match.group(1)) == 0:
        raise argparse.ArgumentTypeError(
            f"invalid age {text!r}: expected a positive number and a unit, for example 30m, 1h or 7d"
        )
    return int(match.group(1)) * _SECONDS_PER_UNIT[match.group(2)]


def _parse_limit(text: str) -> int:
    try:
        limit = int(text)
    except ValueError:
        limit = 0
    if limit < 1:
        raise argparse.ArgumentTypeError(f"invalid limit {text!r}: expected a positive integer")
    return limit


def _report(store: TraceStore, since_s: int | None, as_json: bool, out: TextIO) -> None:
    _require_spans(store)
    since_ns = None if since_s is None else time.time_ns() - since_s * 1_000_000_000
    # NOTE: this loads every span in the window into memory. That suits a store of days or
    # weeks on one machine. A larger store needs the aggregation done in SQL.
    summaries = summarize_routes(store.spans(since_ns))
    if not summaries:
        window = "" if since_s is None else f" in the last {since_s} s"
        raise StoreError(f"No model calls in {store.path}{window}. Run an instrumented program first.")

    if as_json:
        print(json.dumps([summary.to_json() for summary in summaries], indent=2), file=out)
    else:
        print(render_report(summaries), file=out)


def _traces(store: TraceStore, limit: int, as_json: bool, out: TextIO) -> None:
    _require_spans(store)
    summaries = [summarize_trace(store.trace_spans(trace_id)) for trace_id in store.recent_trace_ids(limit)]

    if as_json:
        rows = [
            {
                "trace_id": summary.trace_id,
                "start_time_ns": summary.start_time_ns,
                "root": summary.root_name,
                "duration_ms": round(summary.duration_ms, 3),
                "spans": summary.span_count,
                "steps": summary.steps,
                "total_tokens": summary.total_tokens,
                "status": "error" if summary.is_error else "ok",
            }
            for summary in summaries
        ]
        print(json.dumps(rows, indent=2), file=out)
    else:
        print(render_traces(summaries, trace_id_length=_SHORT_TRACE_ID), file=out)


def _trace(store: TraceStore, trace_id: str, out: TextIO) -> None:
    _require_spans(store)
    full_id = store.resolve_trace_id(trace_id)
    print(f"trace {full_id}", file=out)
    print(render_tree(store.trace_spans(full_id)), file=out)


def _require_spans(store: TraceStore) -> None:
    if store.count_spans() == 0:
        raise StoreError(f"No spans in {store.path} yet. Run an instrumented program first.")
