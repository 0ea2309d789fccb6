"""Where spans go with no configuration, with an OTLP endpoint, and with the app's own provider."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

SCRIPT = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {tests!r})
    import vcr
    import agentwatch
    from _local import sync_client

    agentwatch.instrument()
    recorder = vcr.VCR(record_mode="none", match_on=["method", "path", "body"])
    with recorder.use_cassette({cassette!r}, allow_playback_repeats=True):
        with agentwatch.trajectory("script"):
            sync_client().chat.completions.create(
                model="smollm2",
                messages=[{{"role": "user", "content": "Say hello in five words."}}],
                max_tokens=16, temperature=0.0, seed=7,
            )
    # No flush and no shutdown: the spans must still reach the store at exit.
    """
)


def run_script(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "app.py"
    script.write_text(
        SCRIPT.format(tests=str(REPO / "tests"), cassette=str(REPO / "cassettes" / "shared" / "chat.yaml"))
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AGENTWATCH_", "PYTEST_"))}
    return subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_default_embedded_store_written_at_exit(tmp_path: Path) -> None:
    result = run_script(tmp_path, {})

    assert result.returncode == 0, result.stderr
    db = tmp_path / ".agentwatch" / "traces.db"
    assert db.exists()
    with sqlite3.connect(db) as connection:
        names = sorted(row[0] for row in connection.execute("select name from spans"))
    assert names == ["chat smollm2", "invoke_agent script"]

    report = subprocess.run(
        [sys.executable, "-m", "agentwatch.cli", "report"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert report.returncode == 0, report.stderr
    assert "smollm2" in report.stdout


def test_agentwatch_db_overrides_path(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere" / "spans.db"

    result = run_script(tmp_path, {"AGENTWATCH_DB": str(target)})

    assert result.returncode == 0, result.stderr
    assert target.exists()
    assert not (tmp_path / ".agentwatch").exists()


def test_app_provider_is_used(tmp_path: Path, exporter: object, tracer_provider: object) -> None:
    from opentelemetry import trace

    import agentwatch
    from agentwatch import _export

    telemetry = _export.setup_telemetry(
        agentwatch._config.resolve_settings(service_name=None, capture_content=None, integrations=None),
        tracer_provider,  # type: ignore[arg-type]
    )
    assert telemetry.tracer_provider is tracer_provider
    assert telemetry.owns_tracer_provider is False
    assert trace.get_tracer_provider() is not tracer_provider


@pytest.mark.parametrize("variable", ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"])
def test_otlp_endpoint_creates_no_store(tmp_path: Path, variable: str) -> None:
    # Port 9 on loopback refuses the connection, so the export fails fast.
    endpoint = "http://127.0.0.1:9" + ("/v1/traces" if "TRACES" in variable else "")
    result = run_script(tmp_path, {variable: endpoint, "OTEL_EXPORTER_OTLP_TIMEOUT": "1"})

    assert result.returncode == 0, result.stderr
    assert not (tmp_path / ".agentwatch").exists()
    assert "Failed to export" in result.stderr  # the spans went to the OTLP exporter
    # The exporters' retry threads at exit can make CPython print its own weakref traceback
    # (seen once with openai 2.x); no frame of agentwatch may appear in what is printed.
    assert "/agentwatch/" not in result.stderr


def test_deferred_evaluations_stored_at_exit(tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text('[[evaluators]]\nname = "groundedness"\n\n[[evaluators]]\nname = "task_completion"\n')

    result = run_script(tmp_path, {"AGENTWATCH_POLICY": str(policy)})

    assert result.returncode == 0, result.stderr
    with sqlite3.connect(tmp_path / ".agentwatch" / "traces.db") as connection:
        rows = dict(connection.execute("select name, events from spans").fetchall())
    assert sorted(rows) == ["chat smollm2", "invoke_agent script"]
    assert '"gen_ai.evaluation.name":"groundedness"' in rows["chat smollm2"]
    assert '"gen_ai.evaluation.name":"task_completion"' in rows["invoke_agent script"]
