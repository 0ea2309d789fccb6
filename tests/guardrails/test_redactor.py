"""Redactor: stable placeholders, round trips, echoed and unknown placeholders, streams, threads."""

from __future__ import annotations

import threading

from agentwatch.guardrails import PiiGuardrail, Redactor

TEXT = (
    "I'm jane@example.com, card 4111 1111 1111 1111, phone +44 20 7946 0958, "
    "IBAN DE89 3704 0044 0532 0130 00, key sk-proj-abcdEFGH1234ijklMNOP5678qrstUVWX."
)


def test_redact_replaces_every_value() -> None:
    redacted = Redactor().redact(TEXT)
    assert redacted == ("I'm <EMAIL_1>, card <CARD_1>, phone <PHONE_1>, IBAN <IBAN_1>, key <OPENAI_KEY_1>.")


def test_round_trip_restores_original() -> None:
    redactor = Redactor()
    assert redactor.restore(redactor.redact(TEXT)) == TEXT


def test_same_value_same_placeholder() -> None:
    redactor = Redactor()
    first = redactor.redact("Mail jane@example.com")
    second = redactor.redact("Again: JANE@example.com and bob@example.com")
    assert first == "Mail <EMAIL_1>"
    assert second == "Again: <EMAIL_1> and <EMAIL_2>"


def test_phone_written_two_ways_shares_placeholder() -> None:
    redactor = Redactor()
    text = redactor.redact("Call +1 415-555-0123 or +1 (415) 555-0123")
    assert text == "Call <PHONE_1> or <PHONE_1>"


def test_restore_repeated_and_reordered() -> None:
    redactor = Redactor()
    redactor.redact("from a@x.example to b@x.example")
    answer = "Reply to <EMAIL_2>, copy <EMAIL_1>, and again <EMAIL_2>."
    assert redactor.restore(answer) == "Reply to b@x.example, copy a@x.example, and again b@x.example."


def test_restore_tolerates_echo_variants() -> None:
    redactor = Redactor()
    redactor.redact("a@x.example")
    assert redactor.restore("< EMAIL_1 > and <email_1> and &lt;EMAIL_1&gt;") == (
        "a@x.example and a@x.example and a@x.example"
    )


def test_restore_leaves_unknown_placeholders() -> None:
    redactor = Redactor()
    redactor.redact("a@x.example")
    assert redactor.restore("<EMAIL_7> <NAME_1> <b>bold</b>") == "<EMAIL_7> <NAME_1> <b>bold</b>"


def test_restore_without_redaction_is_identity() -> None:
    assert Redactor().restore("Hi <EMAIL_1>") == "Hi <EMAIL_1>"


def test_restore_stream_joins_split_placeholder() -> None:
    redactor = Redactor()
    redactor.redact("a@x.example")
    chunks = ["Sent to <EM", "AIL", "_1", "> and done. 3 < 4"]
    assert "".join(redactor.restore_stream(chunks)) == "Sent to a@x.example and done. 3 < 4"


def test_custom_detectors() -> None:
    redactor = Redactor(detectors=[PiiGuardrail(kinds=("email",))])
    assert redactor.redact("a@x.example +44 20 7946 0958") == "<EMAIL_1> +44 20 7946 0958"


def test_redact_spans_skips_overlaps() -> None:
    redactor = Redactor()
    assert redactor.redact_spans("abcdef", [(0, 3, "x"), (2, 5, "y")]) == "<X_1>def"


def test_mapping_is_a_copy() -> None:
    redactor = Redactor()
    redactor.redact("a@x.example")
    redactor.mapping.clear()
    assert redactor.mapping == {"<EMAIL_1>": "a@x.example"}


def test_threads_share_one_vault() -> None:
    redactor = Redactor()
    emails = [f"user{i}@x.example" for i in range(50)]
    outputs: list[str] = []
    lock = threading.Lock()

    def work() -> None:
        text = redactor.redact(" ".join(emails))
        with lock:
            outputs.append(text)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(outputs)) == 1
    assert len(redactor.mapping) == 50
    assert redactor.restore(outputs[0]) == " ".join(emails)
