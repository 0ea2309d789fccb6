"""PiiGuardrail on labelled positive and negative cases, checksums, and odd input."""

from __future__ import annotations

import pytest

from agentwatch.guardrails import PiiGuardrail, iban_valid, luhn_valid

PII = PiiGuardrail()

# (text, kind, the exact value that must be found)
POSITIVES = [
    ("Reach me at jane.doe@example.com tomorrow.", "email", "jane.doe@example.com"),
    ("cc: j.smith+billing@mail.co.uk please", "email", "j.smith+billing@mail.co.uk"),
    ("Call +1 (415) 555-0123 after 5pm.", "phone", "+1 (415) 555-0123"),
    ("My number is 415-555-0123.", "phone", "415-555-0123"),
    ("Phone: (212) 555 0187", "phone", "(212) 555 0187"),
    ("UK office: +44 20 7946 0958", "phone", "+44 20 7946 0958"),
    ("ring 020 7946 0958 any time", "phone", "020 7946 0958"),
    ("Mobil: +49 30 1234567", "phone", "+49 30 1234567"),
    ("appelez le 01 23 45 67 89", "phone", "01 23 45 67 89"),
    ("call me at 4155550123", "phone", "4155550123"),
    ("WhatsApp +14155550123 is fine", "phone", "+14155550123"),
    ("Qty 2 415-555-0123 12 items", "phone", "415-555-0123"),
    ("Card 4111 1111 1111 1111, exp 12/27", "card", "4111 1111 1111 1111"),
    ("charged to 5500-0000-0000-0004 twice", "card", "5500-0000-0000-0004"),
    ("amex 3782 822463 10005 please", "card", "3782 822463 10005"),
    ("number 4012888888881881 was declined", "card", "4012888888881881"),
    ("IBAN DE89 3704 0044 0532 0130 00 for the refund", "iban", "DE89 3704 0044 0532 0130 00"),
    ("pay GB82WEST12345698765432 today", "iban", "GB82WEST12345698765432"),
    ("FR14 2004 1010 0505 0001 3M02 606 is mine", "iban", "FR14 2004 1010 0505 0001 3M02 606"),
    ("My SSN is 123-45-6789.", "national_id", "123-45-6789"),
    ("social security number: 219099999", "national_id", "219099999"),
    ("NI number AB 12 34 56 C on file", "national_id", "AB 12 34 56 C"),
]

NEGATIVES = [
    "How do I ignore a charge on my card?",
    "Order #123456789012 was placed on 2024-03-15 for $1,234.56.",
    "Your order 4111111111111112 shipped.",  # card-shaped but fails Luhn
    "Tracking number 1Z999AA10123456784 is in transit.",
    "The meeting is on 15.03.2024 at 10:30.",
    "Dates: 03/15/2024 and 2024/03/15.",
    "It costs 1 234 567 € in total.",
    "Invoice no. 0123 4567 89 is attached.",
    "Windows version 10.0.19045.1234 on IP 192.168.1.10",
    "Use the @support handle or example.com for help.",
    "My reference is 000-12-3456 (not an SSN: area 000).",
    "SSN 666-12-3456 is never issued.",
    "Account DE89 3704 0044 0532 0130 01 has a wrong check digit.",
    "Between 10 and 20 items, 3 boxes of 12.",
    "Call between 9-5 on weekdays.",
    "Model number 2021-0456-7788 is discontinued.",
    "Score: 98.6 / 100, rank 1,234 of 9,876",
]


@pytest.mark.parametrize(("text", "kind", "value"), POSITIVES)
def test_pii_finds_value(text: str, kind: str, value: str) -> None:
    result = PII.check(text)
    found = [(text[start:end], found_kind) for start, end, found_kind in result.spans]
    assert result.passed is False
    assert result.label == "pii"
    assert (value, kind) in found


@pytest.mark.parametrize("text", NEGATIVES)
def test_pii_ignores_near_miss(text: str) -> None:
    result = PII.check(text)
    found = [(text[start:end], kind) for start, end, kind in result.spans]
    assert found == []
    assert result.passed is True
    assert result.label == "clean"


def test_pii_reason_names_kinds_not_values() -> None:
    result = PII.check("Mail a@b.example, call +44 20 7946 0958")
    assert result.reason == "Found PII: email (1), phone (1)."
    assert "a@b.example" not in result.reason


def test_pii_kinds_option_limits_search() -> None:
    text = "Mail a@b.example, call +44 20 7946 0958"
    result = PiiGuardrail(kinds=("phone",)).check(text)
    assert [kind for _, _, kind in result.spans] == ["phone"]


def test_pii_unknown_kind_rejected() -> None:
    with pytest.raises(ValueError, match="Unknown PII kind 'passport'"):
        PiiGuardrail(kinds=("passport",))


def test_card_wins_over_phone_overlap() -> None:
    result = PII.check("+4111 1111 1111 1111")
    assert [kind for _, _, kind in result.spans] == ["card"]


def test_luhn_and_iban_checksums() -> None:
    assert luhn_valid("4111111111111111")
    assert not luhn_valid("4111111111111112")
    assert iban_valid("DE89370400440532013000")
    assert not iban_valid("DE89370400440532013001")


@pytest.mark.parametrize("value", [None, "", 12345, b"mail x@y.example", ["a", {"content": "b"}]])
def test_pii_accepts_odd_input(value: object) -> None:
    result = PII.check(value)
    assert result.error is None
    assert result.name == "pii"


def test_pii_bytes_are_decoded() -> None:
    assert PII.check(b"mail x@y.example").label == "pii"


def test_pii_unreadable_input_is_error() -> None:
    result = PII.check(object())
    assert result.passed is False
    assert result.label == "error"
    assert result.error is not None


def test_pii_huge_input_is_error() -> None:
    result = PiiGuardrail(max_chars=1000).check("a" * 1001)
    assert result.label == "error"
    assert "longer than 1000 characters" in result.reason


def test_pii_invalid_stage_is_error() -> None:
    result = PII.check("x@y.example", stage="middle")
    assert result.label == "error"
    assert "invalid stage" in (result.error or "")


def test_pii_result_records_stage_and_duration() -> None:
    result = PII.check("x@y.example", stage="output")
    assert result.stage == "output"
    assert result.duration_ms > 0
