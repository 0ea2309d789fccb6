"""Policy: TOML and Python carry the same fields; a bad policy fails naming the bad value."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
import wrapt
from openai.resources.chat.completions.completions import Completions
from opentelemetry.sdk.trace import TracerProvider

import agentwatch
from agentwatch import EvaluatorRule, Fallback, Mirror, Policy, PolicyError, Route
from agentwatch._state import STATE

DESIGN_POLICY = """
[routes.local]
model = "smollm2"
base_url = "http://127.0.0.1:8080/v1"

[routes.approved]
model = "gpt-4o-mini"
approved = true
api_key_env = "OPENAI_API_KEY"
input_price_per_million = 0.15
output_price_per_million = 0.6

[[evaluators]]
name = "groundedness"
threshold = 0.8
on_fail = "fallback"

[[guardrails]]
name = "pii"
stage = "input"
action = "redact"

[fallback]
to = "approved"
on = ["error", "timeout", "eval_fail", "guardrail"]
max_attempts = 1

[mirror]
route = "local"
fraction = 0.05
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(textwrap.dedent(text))
    return path


def test_toml_matches_python(tmp_path: Path) -> None:
    from_toml = Policy.from_toml(write(tmp_path, DESIGN_POLICY))

    assert from_toml.routes["local"] == Route("local", "smollm2", base_url="http://127.0.0.1:8080/v1")
    assert from_toml.routes["approved"] == Route(
        "approved",
        "gpt-4o-mini",
        approved=True,
        api_key_env="OPENAI_API_KEY",
        input_price_per_million=0.15,
        output_price_per_million=0.6,
    )
    assert from_toml.evaluators == (EvaluatorRule("groundedness", threshold=0.8, on_fail="fallback"),)
    assert from_toml.guardrails[0].name == "pii"
    assert (from_toml.guardrails[0].stage, from_toml.guardrails[0].action) == ("input", "redact")
    assert from_toml.fallback == Fallback("approved", ("error", "timeout", "eval_fail", "guardrail"), 1)
    assert from_toml.mirror == Mirror("local", 0.05)


BAD = [
    pytest.param(
        {"evaluators": [{"name": "groundness"}]},
        "Unknown evaluator 'groundness'. Valid evaluators: groundedness, hallucination",
        id="evaluator",
    ),
    pytest.param(
        {"evaluators": [{"name": "groundedness", "on_fail": "explode"}]},
        "Unknown action 'explode'. Valid actions: flag, block, raise, fallback",
        id="action",
    ),
    pytest.param(
        {"guardrails": [{"name": "pii", "stage": "middle"}]},
        "Unknown stage 'middle'. Valid stages: input, output",
        id="stage",
    ),
    pytest.param(
        {"guardrails": [{"name": "ssn"}]},
        "Unknown guardrail 'ssn'. Valid guardrails: pii, secrets",
        id="guardrail",
    ),
    pytest.param(
        {"routes": {"local": {"model": "smollm2"}}, "fallback": {"to": "cloud"}},
        "Unknown route 'cloud'. Valid routes: local",
        id="fallback-route",
    ),
    pytest.param(
        {"routes": {"local": {"model": "smollm2"}}, "fallback": {"to": "local"}},
        "Fallback route 'local' is not approved",
        id="fallback-not-approved",
    ),
    pytest.param(
        {"routes": {"local": {"model": "smollm2"}}, "mirror": {"route": "local", "fraction": 1.5}},
        "Invalid mirror fraction 1.5: must be from 0 to 1",
        id="fraction",
    ),
    pytest.param(
        {"routes": {"local": {"model": "smollm2"}}, "mirror": {"route": "shadow", "fraction": 0.1}},
        "Unknown route 'shadow'. Valid routes: local",
        id="mirror-route",
    ),
    pytest.param(
        {"evaluators": [{"name": "groundedness", "threshold": 2}]},
        "Invalid threshold of evaluator 'groundedness' 2",
        id="threshold",
    ),
    pytest.param(
        {"routes": {"local": {"model": "smollm2", "temperature": 0}}},
        "Unknown field 'temperature' in [routes.local]",
        id="field",
    ),
    pytest.param(
        {"rout": {}}, "Unknown field 'rout' in the policy. Valid fields: routes, evaluators", id="section"
    ),
    pytest.param(
        {"fallback": {"to": "x", "on": ["slow"]}},
        "Unknown fallback trigger 'slow'. Valid fallback triggers: error, timeout, eval_fail, guardrail",
        id="trigger",
    ),
    pytest.param(
        {"evaluators": [{"name": "groundedness", "on_fail": "fallback"}]},
        "on_fail = 'fallback' but the policy has no [fallback]",
        id="fallback-missing",
    ),
    pytest.param(
        {
            "routes": {"local": {"model": "m"}, "approved": {"model": "a", "approved": True}},
            "evaluators": [{"name": "groundedness", "on_fail": "fallback"}],
            "fallback": {"to": "approved", "on": ["error"]},
        },
        "Evaluator 'groundedness' has on_fail = 'fallback' but [fallback] on lists 'error', not "
        "'eval_fail'. Add 'eval_fail' to on",
        id="eval-fail-trigger-missing",
    ),
    pytest.param(
        {
            "routes": {"local": {"model": "m"}, "approved": {"model": "a", "approved": True}},
            "guardrails": [{"name": "pii", "action": "fallback"}],
            "fallback": {"to": "approved", "on": ["error", "eval_fail"]},
        },
        "Guardrail 'pii' has action = 'fallback' but [fallback] on lists 'error', 'eval_fail', "
        "not 'guardrail'",
        id="guardrail-trigger-missing",
    ),
    pytest.param(
        {"guardrails": [{"name": "pii", "action": "fallback"}]},
        "Guardrail 'pii' has action = 'fallback' but the policy has no [fallback]",
        id="guardrail-fallback-missing",
    ),
    pytest.param(
        {"routes": {"local": {"model": "m", "buffer_streams": True}}},
        "buffer_streams is a top-level key: put it at the top of the file, before any table.",
        id="buffer-streams-in-table",
    ),
    pytest.param(
        {"guardrails": [{"name": "pii", "fail": "maybe"}]},
        "Unknown fail mode 'maybe' for guardrail 'pii'. Valid fail modes: open, closed",
        id="fail-mode",
    ),
    pytest.param(
        {"guardrails": [{"name": "groundedness", "stage": "output", "timeout_ms": -5}]},
        "Invalid timeout_ms of guardrail 'groundedness' -5: must be from 0 to 600000",
        id="guardrail-timeout",
    ),
    pytest.param(
        {
            "guardrails": [
                {"name": "pii", "stage": "input", "timeout_ms": 10},
                {"name": "pii", "stage": "output", "timeout_ms": 20},
            ]
        },
        "Guardrail 'pii' has two different timeout_ms or fail settings",
        id="guardrail-budget-conflict",
    ),
]


@pytest.mark.parametrize(("data", "message"), BAD)
def test_bad_policy_names_value(data: dict[str, Any], message: str) -> None:
    with pytest.raises(PolicyError) as caught:
        Policy.from_dict(data)
    assert message in str(caught.value)


def test_missing_file_names_path(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match=r"Policy file not found: .*nope\.toml"):
        Policy.from_toml(tmp_path / "nope.toml")


def test_invalid_toml_names_path(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match=r"Invalid TOML in policy file .*policy\.toml"):
        Policy.from_toml(write(tmp_path, "[routes.local\nmodel = 1"))


def test_bad_policy_at_instrument_patches_nothing(tmp_path: Path, tracer_provider: TracerProvider) -> None:
    path = write(tmp_path, '[[evaluators]]\nname = "groundedness"\non_fail = "explode"\n')

    with pytest.raises(PolicyError, match="Unknown action 'explode'"):
        agentwatch.instrument(tracer_provider=tracer_provider, policy=str(path))

    assert not isinstance(Completions.__dict__["create"], wrapt.FunctionWrapper)
    from agentwatch._instrument import current_instrumentation

    assert current_instrumentation() is None


def test_policy_from_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tracer_provider: TracerProvider
) -> None:
    monkeypatch.setenv("AGENTWATCH_POLICY", str(write(tmp_path, '[routes.local]\nmodel = "smollm2"\n')))

    handle = agentwatch.instrument(tracer_provider=tracer_provider)
    try:
        from agentwatch._state import STATE

        assert STATE.policy is not None
        assert list(STATE.policy.routes) == ["local"]
    finally:
        handle.uninstrument()


def test_invalid_policy_argument() -> None:
    with pytest.raises(PolicyError, match=r"pass an agentwatch\.Policy, a path to a TOML policy, or None"):
        agentwatch.instrument(policy=42)  # type: ignore[arg-type]


def test_route_matching_prefers_base_url() -> None:
    policy = Policy(
        routes={
            "any-smollm2": Route("any-smollm2", "smollm2"),
            "local": Route("local", "smollm2", base_url="http://127.0.0.1:8080/v1/"),
        }
    )
    assert policy.route_for("smollm2", "http://127.0.0.1:8080/v1").name == "local"
    assert policy.route_for("smollm2", "http://127.0.0.1:9000/v1").name == "any-smollm2"
    assert policy.route_for("gpt-4o", "http://127.0.0.1:8080/v1") is None


def test_guardrail_budget_and_fail_mode_reach_the_suite(
    tmp_path: Path, tracer_provider: TracerProvider
) -> None:
    path = write(
        tmp_path,
        """
        [[guardrails]]
        name = "groundedness"
        stage = "output"
        action = "block"
        timeout_ms = 250
        fail = "closed"

        [[guardrails]]
        name = "pii"
        """,
    )
    agentwatch.instrument(tracer_provider=tracer_provider, policy=path)
    try:
        suite = STATE.guardrails
        assert suite is not None
        assert suite.timeout_ms("groundedness") == 250.0
        assert suite.fails_closed("groundedness") is True
        assert suite.timeout_ms("pii") == 50.0  # the default budget
        assert suite.fails_closed("pii") is True  # security checks fail closed by default
    finally:
        agentwatch.uninstrument()
