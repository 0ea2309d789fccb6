"""End to end: agentwatch sends a trajectory over OTLP/HTTP to a real Arize Phoenix on 127.0.0.1.

The application runs in a subprocess with only ``OTEL_EXPORTER_OTLP_ENDPOINT`` and
``OTEL_SERVICE_NAME`` set, replays ``cassettes/shared/chat.yaml`` (recorded from the real local
model) and exits without flushing. The spans are read back through Phoenix's REST API
(``GET /v1/projects/{project}/spans``) as Phoenix stored them.
"""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
import textwrap
import time
import urllib.error
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from _phoenix import HOST, PhoenixServer, clean_environment, start_phoenix

from _local import API_KEY

REPO = Path(__file__).resolve().parents[2]
CASSETTE = REPO / "cassettes" / "shared" / "chat.yaml"
# Phoenix files spans under the project named by this resource attribute, so the test reads only
# its own spans even from a Phoenix that already contains others in the "default" project.
PROJECT = "agentwatch-e2e"
SPANS_TIMEOUT_S = 60.0

SCRIPT = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {tests!r})
    import vcr
    import agentwatch
    from _local import sync_client

    agentwatch.instrument()
    recorder = vcr.VCR(record_mode="none", match_on=["method", "path", "body"])
    with recorder.use_cassette({cassette!r}):
        with agentwatch.trajectory("support-agent", session_id="s-1"):
            sync_client().chat.completions.create(
                model="smollm2",
                messages=[{{"role": "user", "content": "Say hello in five words."}}],
                max_tokens=16, temperature=0.0, seed=7,
            )
    # No flush and no shutdown: the spans must still reach Phoenix at exit.
    """
)

pytestmark = pytest.mark.e2e


def _require_phoenix() -> None:
    # NOTE: this checks the installed distribution instead of pytest.importorskip("phoenix"), because
    # importing Phoenix takes about 26 s on 2 cores and creates ~/.phoenix.
    try:
        importlib.metadata.version("arize-phoenix")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("arize-phoenix is not installed. Install the e2e extra: pip install -e '.[e2e]'")


@pytest.fixture
def phoenix(tmp_path: Path) -> Iterator[PhoenixServer]:
    _require_phoenix()
    server = start_phoenix(tmp_path / "phoenix")
    try:
        server.wait_until_ready()
        yield server
    finally:
        server.stop()


def cassette_usage() -> dict[str, int]:
    """Return the ``usage`` object of the recorded chat completion."""
    interactions = yaml.safe_load(CASSETTE.read_text())["interactions"]
    body = interactions[0]["response"]["body"]["string"]
    if isinstance(body, bytes):
        body = body.decode()
    usage: dict[str, int] = json.loads(body)["usage"]
    return usage


def run_app(tmp_path: Path, endpoint: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "app.py"
    script.write_text(SCRIPT.format(tests=str(REPO / "tests"), cassette=str(CASSETTE)))
    env = {
        **clean_environment(),
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_SERVICE_NAME": "support-service",
        "OTEL_RESOURCE_ATTRIBUTES": f"openinference.project.name={PROJECT}",
        # Phoenix rejects OTLP metrics (HTTP 405); the documented switch turns them off.
        "OTEL_METRICS_EXPORTER": "none",
    }
    return subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )


def wait_for_spans(server: PhoenixServer, names: set[str]) -> list[dict[str, Any]]:
    """Poll the project's spans until every name in ``names`` is there, else raise TimeoutError."""
    deadline = time.monotonic() + SPANS_TIMEOUT_S
    spans: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        try:
            spans = server.get_json(f"/v1/projects/{PROJECT}/spans?limit=100")["data"]
        except urllib.error.HTTPError as error:
            # Phoenix returns 404 until the first span creates the project.
            if error.code != 404:
                raise
        if names <= {span["name"] for span in spans}:
            return spans
        time.sleep(0.5)
    raise TimeoutError(
        f"Phoenix did not return spans {sorted(names)} within {SPANS_TIMEOUT_S:.0f} s. "
        f"It returned {sorted(span['name'] for span in spans)}. Log tail:\n{server.log_tail()}"
    )


def test_phoenix_receives_trajectory(phoenix: PhoenixServer, tmp_path: Path) -> None:
    listening = phoenix.listening_addresses()
    assert (HOST, phoenix.port) in listening
    assert all(address == HOST for address, _ in listening), listening

    result = run_app(tmp_path, phoenix.base_url)
    assert result.returncode == 0, result.stderr
    assert "Failed to export" not in result.stderr

    spans = wait_for_spans(phoenix, {"invoke_agent support-agent", "chat smollm2"})
    assert len(spans) == 2, [span["name"] for span in spans]
    by_name = {span["name"]: span for span in spans}
    agent = by_name["invoke_agent support-agent"]
    chat = by_name["chat smollm2"]

    assert agent["parent_id"] is None
    assert chat["parent_id"] == agent["context"]["span_id"]
    assert chat["context"]["trace_id"] == agent["context"]["trace_id"]

    assert agent["span_kind"] == "AGENT"
    assert chat["span_kind"] == "LLM"
    assert agent["status_code"] != "ERROR"
    assert chat["status_code"] != "ERROR"

    # Phoenix moves openinference.span.kind out of the attributes into span_kind.
    attributes = chat["attributes"]
    usage = cassette_usage()
    assert attributes["llm.model_name"] == "smollm2"
    assert attributes["llm.token_count.prompt"] == usage["prompt_tokens"]
    assert attributes["llm.token_count.completion"] == usage["completion_tokens"]
    assert attributes["agent.trajectory.step"] == 1
    assert agent["attributes"]["session.id"] == "s-1"

    assert API_KEY not in json.dumps(spans)
