from __future__ import annotations

import pytest

from agentwatch.evaluators._numbers import agree, comparable, extract_quantities, prepare
from agentwatch.evaluators._text import normalise


def only_quantity(text: str):
    quantities = extract_quantities(prepare(normalise(text)))
    assert len(quantities) == 1, quantities
    return quantities[0]


@pytest.mark.parametrize(
    ("claim", "context"),
    [
        ("24 months", "2 years"),
        ("60 minutes", "1 hour"),
        ("1300 grams", "1.3 kg"),
        ("10 requests per second", "600 requests per minute"),
        ("18 days of leave per year", "1.5 days of leave per month"),
        ("thirty days", "30 days"),
        ("forty-eight employees", "48 employees"),
        ("12 percent", "12%"),
        ("150 euros", "EUR 150"),
        ("$4.2M", "$4.2 million"),
        ("25 dollars a month", "$25 per month"),
        ("5:30 pm", "17:30"),
        ("half past five in the afternoon", "17:30"),
        ("2025-03-14", "March 14, 2025"),
        ("28 February 2025", "February 28, 2025"),
        ("no more than 5 days", "up to 5 days"),
    ],
)
def test_equal_quantities_agree(claim, context):
    first, second = only_quantity(claim), only_quantity(context)
    assert comparable(first, second)
    assert agree(first, second)


@pytest.mark.parametrize(
    ("claim", "context"),
    [
        ("60 days", "30 days"),
        ("18 months", "2 years"),
        ("$150", "$15"),
        ("$4.2 billion", "$4.2 million"),
        ("at least 10 hours", "up to 10 hours"),
        ("under $50", "over $50"),
        ("18:30", "17:30"),
        ("March 15, 2025", "March 14, 2025"),
        ("2022", "2023"),
        ("90%", "80%"),
        ("2 weeks", "30 days"),
    ],
)
def test_different_quantities_disagree(claim, context):
    first, second = only_quantity(claim), only_quantity(context)
    assert comparable(first, second)
    assert not agree(first, second)


def test_currencies_are_not_comparable():
    assert not comparable(only_quantity("$150"), only_quantity("EUR 150"))


def test_range_and_bound():
    span = only_quantity("3 to 5 business days")
    assert (span.value, span.high, span.bound) == (3.0, 5.0, "range")
    assert agree(only_quantity("at most 5 business days"), span)
    assert not agree(only_quantity("at most 4 business days"), span)


def test_text_without_numbers_has_no_quantities():
    assert extract_quantities(prepare(normalise("The museum is closed on Mondays."))) == []
