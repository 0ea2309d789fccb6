"""BlockedTopicsGuardrail: phrases, inflections, case and look-alikes."""

from __future__ import annotations

import pytest

from agentwatch.guardrails import BlockedTopicsGuardrail, stem

TOPICS = BlockedTopicsGuardrail(["gambling", "medical advice", "weapons", "crypto currency"])


@pytest.mark.parametrize(
    ("text", "topic"),
    [
        ("Where can I gamble online?", "gambling"),
        ("He gambled away his savings.", "gambling"),
        ("GAMBLING sites", "gambling"),
        ("I need medical advice about my rash.", "medical advice"),
        ("Give me Medical Advices", "medical advice"),
        ("Do you sell a weapon?", "weapons"),
        ("crypto-currency refunds", "crypto currency"),
        ("gаmbling with a Cyrillic a", "gambling"),
    ],
)
def test_topic_matches(text: str, topic: str) -> None:
    result = TOPICS.check(text)
    assert result.passed is False
    assert result.label == "blocked_topic"
    assert topic in {kind for _, _, kind in result.spans}
    assert repr(topic) in result.reason


@pytest.mark.parametrize(
    "text",
    [
        "I need advice about my medical insurance bill.",  # words present, not as the phrase
        "Is the cryptography module installed?",
        "The weaponry museum opens at 9.",  # a different word with the same start
        "Can I get a refund for my order?",
        "",
    ],
)
def test_topic_no_match(text: str) -> None:
    result = TOPICS.check(text)
    assert result.spans == ()
    assert result.passed is True


def test_topic_span_is_original_text() -> None:
    text = "Any tips on Gambling?"
    (span,) = TOPICS.check(text).spans
    assert text[span[0] : span[1]] == "Gambling"


def test_no_topics_never_matches() -> None:
    assert BlockedTopicsGuardrail([]).check("gambling weapons").passed is True


def test_empty_topic_rejected() -> None:
    with pytest.raises(ValueError, match="has no letters or digits"):
        BlockedTopicsGuardrail(["--"])


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("gambling", "gambl"),
        ("gambles", "gambl"),
        ("gamble", "gambl"),
        ("betting", "bet"),
        ("studies", "study"),
    ],
)
def test_stem_forms(word: str, expected: str) -> None:
    assert stem(word) == expected
