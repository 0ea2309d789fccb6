"""SecretsGuardrail on labelled positive and negative cases."""

from __future__ import annotations

import pytest

from agentwatch.guardrails import SecretsGuardrail, shannon_entropy

SECRETS = SecretsGuardrail()

# Made-up values in the documented formats; none is a real credential.
POSITIVES = [
    ("my key is sk-proj-abcdEFGH1234ijklMNOP5678qrstUVWX", "openai_key"),
    ("OPENAI_API_KEY=sk-3f9aK2LmN8pQ4rS7tU1vW5xY0zA6bC2dE9fG3hJ7", "openai_key"),
    ("anthropic sk-ant-api03-Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Jj1Hh0GgFfEe", "anthropic_key"),
    ("aws_access_key_id = AKIAIOSFODNN7EXAMPLE", "aws_access_key"),
    ("token ghp_1a2B3c4D5e6F7g8H9i0J1k2L3m4N5o6P7q8R", "github_token"),
    ("github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz", "github_token"),
    ("slack bot xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx", "slack_token"),
    (
        "webhook https://hooks.slack.com/services/T0000AAAA/B0000BBBB/XXXXXXXXXXXXXXXXXXXXXXXX",
        "slack_webhook",
    ),
    ("maps key AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q", "google_api_key"),
    ("stripe sk_live_4eC39HqLyjWDarjtT1zdp7dc", "stripe_key"),
    (
        "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        "jwt",
    ),
    ("Authorization: Bearer abc123DEF456ghi789JKL012", "bearer_token"),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----", "private_key"),
    ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA", "private_key"),
    ('{"client_secret": "q8Zt3Vx9Lm2Np7Rs4Tu6Wy1A"}', "assigned_secret"),
    ("api_key = 'a8f5f167f44f4964e6c998dee827110c'", "assigned_secret"),
    ("db password: hunter2!", "assigned_secret"),
    ("postgres://admin:s3cr3tP4ss@db.internal:5432/app", "url_credentials"),
    ("hf token hf_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789", "huggingface_token"),
]

NEGATIVES = [
    "My token: expired, can you send a new one?",
    "Set api_key = <your-api-key> in the config.",
    "export OPENAI_API_KEY=${OPENAI_API_KEY}",
    "password = changeme",
    "The password: reset link never arrived.",
    "I use scikit-learn, sk-learn for short.",
    "Bearer of bad news: the order is late.",
    "api_key = os.environ['API_KEY']",
    "token = xxxxxxxxxxxxxxxxxxxxxxxx",
    "The secret is to let the dough rest overnight.",
    "Order AKIA123 is not an AWS key.",
    "Ticket ghp-12 is closed.",
    "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A\n-----END PUBLIC KEY-----",
    "Visit https://example.com/login to sign in.",
    "session_token = aaaaaaaaaaaaaaaa",
    "How do I reset my access key?",
]


@pytest.mark.parametrize(("text", "kind"), POSITIVES)
def test_secrets_finds_kind(text: str, kind: str) -> None:
    result = SECRETS.check(text)
    assert result.passed is False
    assert result.label == "secret"
    assert kind in [found for _, _, found in result.spans]


@pytest.mark.parametrize("text", NEGATIVES)
def test_secrets_ignores_near_miss(text: str) -> None:
    result = SECRETS.check(text)
    assert [text[start:end] for start, end, _ in result.spans] == []
    assert result.passed is True


def test_secret_span_covers_whole_key() -> None:
    key = "sk-proj-abcdEFGH1234ijklMNOP5678qrstUVWX"
    text = f"use {key} now"
    (span,) = SECRETS.check(text).spans
    assert text[span[0] : span[1]] == key


def test_secret_reason_has_no_value() -> None:
    result = SECRETS.check("AKIAIOSFODNN7EXAMPLE")
    assert result.reason == "Found secrets: aws_access_key (1)."


def test_entropy_of_uniform_and_random() -> None:
    assert shannon_entropy("") == 0.0
    assert shannon_entropy("aaaa") == 0.0
    assert shannon_entropy("abcd") == pytest.approx(2.0)
