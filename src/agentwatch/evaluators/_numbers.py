"""Quantities in text: numbers (digits or words), units, rates, bounds, percentages, money, dates.

The rule-based tier compares the quantities of a claim with those of the context sentence it
aligns with. Every quantity is reduced to a dimension and a value in that dimension's base unit
(seconds, grams, metres, bytes, an amount of one currency), so "24 months" equals "2 years" and
"10 requests per second" equals "600 requests per minute".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from ._numwords import words_to_digits

# Bound kinds: a point value, an upper bound, a lower bound, or a closed range.
EQ, UPPER, LOWER, RANGE = "eq", "upper", "lower", "range"

_DAY = 86_400.0
_MONTH = 30.436875 * _DAY  # a mean Gregorian month, so that 12 months equal one year
_YEAR = 365.2425 * _DAY

# unit word -> (dimension, factor to the base unit, conversion is approximate)
_UNITS: dict[str, tuple[str, float, bool]] = {}


def _add_units(dimension: str, factor: float, approx: bool, *names: str) -> None:
    for name in names:
        _UNITS[name] = (dimension, factor, approx)


_add_units("duration", 1.0, False, "second", "seconds", "sec", "secs")
_add_units("duration", 60.0, False, "minute", "minutes", "min", "mins")
_add_units("duration", 3600.0, False, "hour", "hours", "hr", "hrs", "h")
_add_units("duration", _DAY, False, "day", "days", "calendar day", "calendar days")
_add_units("duration", 7 * _DAY, False, "week", "weeks", "wk", "wks")
_add_units("duration", 14 * _DAY, False, "fortnight", "fortnights")
_add_units("duration", _MONTH, True, "month", "months", "mo")
_add_units("duration", _YEAR, True, "year", "years", "yr", "yrs")
_add_units("workday", 1.0, False, "business day", "business days", "working day", "working days")
_add_units("workday", 5.0, False, "business week", "business weeks", "working week", "working weeks")
_add_units("mass", 0.001, False, "mg", "milligram", "milligrams")
_add_units("mass", 1.0, False, "g", "gram", "grams")
_add_units("mass", 1000.0, False, "kg", "kilogram", "kilograms", "kilo", "kilos")
_add_units("mass", 453.59237, False, "lb", "lbs")
_add_units("mass", 28.349523125, False, "oz", "ounce", "ounces")
_add_units("mass", 1_000_000.0, False, "tonne", "tonnes")
_add_units("length", 0.001, False, "mm", "millimetre", "millimetres", "millimeter", "millimeters")
_add_units("length", 0.01, False, "cm", "centimetre", "centimetres", "centimeter", "centimeters")
_add_units("length", 1.0, False, "m", "metre", "metres", "meter", "meters")
_add_units("length", 1000.0, False, "km", "kilometre", "kilometres", "kilometer", "kilometers")
_add_units("length", 0.0254, False, "inch", "inches", "in.")
_add_units("length", 0.3048, False, "ft", "foot", "feet")
_add_units("length", 1609.344, False, "mile", "miles", "mi")
_add_units("data", 1.0, False, "byte", "bytes")
_add_units("data", 1e3, False, "kb", "kilobyte", "kilobytes")
_add_units("data", 1e6, False, "mb", "megabyte", "megabytes")
_add_units("data", 1e9, False, "gb", "gigabyte", "gigabytes")
_add_units("data", 1e12, False, "tb", "terabyte", "terabytes")
_add_units("volume", 0.001, False, "ml", "millilitre", "millilitres", "milliliter", "milliliters")
_add_units("volume", 1.0, False, "litre", "litres", "liter", "liters")
_add_units("frequency", 1.0, False, "hz")
_add_units("frequency", 1e3, False, "khz")
_add_units("frequency", 1e6, False, "mhz")
_add_units("frequency", 1e9, False, "ghz")

_TIME_UNITS = {name for name, (dim, _, _) in _UNITS.items() if dim == "duration"}

_CURRENCY_CODES = {
    "$": "USD", "usd": "USD", "us$": "USD", "dollar": "USD", "dollars": "USD", "cents": "USD/100",
    "cent": "USD/100", "€": "EUR", "eur": "EUR", "euro": "EUR", "euros": "EUR", "£": "GBP",
    "gbp": "GBP", "¥": "JPY", "jpy": "JPY", "yen": "JPY", "chf": "CHF", "inr": "INR", "₹": "INR",
    "rupees": "INR", "cad": "CAD", "aud": "AUD",
}  # fmt: skip

_SCALES = {
    "k": 1e3, "thousand": 1e3, "m": 1e6, "mn": 1e6, "million": 1e6, "b": 1e9, "bn": 1e9,
    "billion": 1e9, "trillion": 1e12,
}  # fmt: skip

_NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+"
_NUMBER_RE = re.compile(rf"(?<![\w.])(?:{_NUM})(?![\d])")

_unit_names = sorted(_UNITS, key=len, reverse=True)
_UNIT_AFTER_RE = re.compile(r"\s?-?\s?(" + "|".join(re.escape(name) for name in _unit_names) + r")(?![a-z])")
_RANGE_AFTER_RE = re.compile(rf"\s*(?:-|to|and|through)\s*(?:\$|€|£)?({_NUM})(?![\d])")
_SCALE_AFTER_RE = re.compile(r"\s?(k|m|mn|b|bn|thousand|million|billion|trillion)(?![a-z])")
_CURRENCY_BEFORE_RE = re.compile(r"(us\$|\$|€|£|¥|₹|usd|eur|gbp|jpy|chf|inr|cad|aud)\s?$")
_CURRENCY_AFTER_RE = re.compile(
    r"\s?(usd|eur|gbp|jpy|chf|inr|cad|aud|dollars?|euros?|cents?|yen|rupees|€|\$)(?![a-z])"
)
_PERCENT_AFTER_RE = re.compile(r"\s?(%|percent(?:age points?)?|per cent|pct)(?![a-z])")
_RATE_AFTER_RE = re.compile(
    r"(?:\s+of\s+[a-z ]{1,30}?|\s+[a-z]+){0,1}\s*(?:per|a|an|each|every|/)\s*("
    + "|".join(sorted(_TIME_UNITS, key=len, reverse=True))
    + r")(?![a-z])"
)
_NOUN_AFTER_RE = re.compile(r"\s+(?:[a-z]+-)?([a-z]{3,})")

_LOWER_BEFORE = (
    "at least", "minimum of", "a minimum of", "no less than", "not less than", "no fewer than",
    "more than", "over", "above", "greater than", "exceeding", "upwards of", "starting at",
)  # fmt: skip
_UPPER_BEFORE = (
    "up to", "within", "no more than", "not more than", "at most", "maximum of",
    "a maximum of", "max", "no later than", "not exceed", "not to exceed", "under", "less than",
    "fewer than", "below", "only up to",
)  # fmt: skip
_BEFORE_RE = re.compile(
    r"(?:^|\W)("
    + "|".join(re.escape(w) for w in sorted(_LOWER_BEFORE + _UPPER_BEFORE, key=len, reverse=True))
    + r")(?:\s+(?:the|a|an|of|just|about|around|roughly|approximately))*\s*(?:\$|€|£|¥)?\s*$"
)
_NEGATED_MORE_RE = re.compile(r"\b(?:not|never|no)\s+(?:\w+\s+){0,2}$")
_AFTER_BOUND_RE = re.compile(
    r"\s*(?:\w+\s+){0,3}?(or more|or less|or fewer|at most|at the most|at least|max|maximum|"
    r"minimum|or longer|or shorter|\+)(?![a-z])"
)

_MONTHS = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9,
    "oct": 10, "nov": 11, "dec": 12,
}  # fmt: skip
_MONTH_RE = (
    r"(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_ISO_DATE_RE = re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b")
_SLASH_DATE_RE = re.compile(r"\b(\d{1,2})/(\d{1,2})/(\d{4})\b")
_MONTH_DAY_RE = re.compile(rf"\b{_MONTH_RE}\s+(\d{{1,2}})(?:st|nd|rd|th)?\b(?!:)(?:,?\s+(\d{{4}})\b)?")
_DAY_MONTH_RE = re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH_RE}(?:,?\s+(\d{{4}})\b)?")
_MONTH_YEAR_RE = re.compile(rf"\b{_MONTH_RE}\s+(?:of\s+)?(\d{{4}})\b")
_YEAR_RE = re.compile(r"(?<![\w$€£.,])((?:19|20)\d{2})(?![\w%]|[.,]\d)")
_CLOCK_RE = re.compile(r"\b(\d{1,2})(?::(\d{2}))?\s*(a\.?m\.?|p\.?m\.?|o'clock)?(?=$|[^\w:])")
_NOON_RE = re.compile(r"\bnoon\b")
_MIDNIGHT_RE = re.compile(r"\bmidnight\b")
_DAYPART_AFTER_RE = re.compile(r"\s*(?:in the\s+)?(afternoon|evening|at night|tonight|morning)")


@dataclass(frozen=True)
class Quantity:
    """One quantity found in text.

    ``value`` is in the dimension's base unit; ``high`` is the upper end of a range. For dates the
    value encodes year, month and day as ``year*10000 + month*100 + day`` with 0 for a missing
    part, and ``dimension`` is ``"date"``.
    """

    value: float
    dimension: str
    bound: str
    text: str
    start: int
    end: int
    high: float | None = None
    approx: bool = False


def _parse_number(raw: str) -> float:
    return float(raw.replace(",", ""))


def _bound_before(text: str, start: int) -> str:
    window = text[max(0, start - 40) : start]
    match = _BEFORE_RE.search(window)
    if match is None:
        return EQ
    phrase = match.group(1)
    if phrase in _UPPER_BEFORE:
        return UPPER
    if phrase in ("more than", "over", "above", "greater than", "exceeding"):
        if _NEGATED_MORE_RE.search(window[: match.start(1)]):
            return UPPER
    return LOWER


def _bound_after(text: str, end: int, current: str) -> str:
    match = _AFTER_BOUND_RE.match(text, end)
    if match is None or current != EQ:
        return current
    phrase = match.group(1)
    if phrase in ("or more", "at least", "minimum", "or longer", "+"):
        return LOWER
    return UPPER


def _date_value(year: int | None, month: int, day: int | None) -> float | None:
    if not 1 <= month <= 12 or (day is not None and not 1 <= day <= 31):
        return None
    return float((year or 0) * 10000 + month * 100 + (day or 0))


def _find_dates(text: str, taken: list[tuple[int, int]]) -> list[Quantity]:
    found: list[Quantity] = []

    def add(value: float | None, match: re.Match[str]) -> None:
        if value is None or _overlaps(match.start(), match.end(), taken):
            return
        taken.append((match.start(), match.end()))
        found.append(Quantity(value, "date", EQ, match.group(0), match.start(), match.end()))

    for match in _ISO_DATE_RE.finditer(text):
        add(_date_value(int(match.group(1)), int(match.group(2)), int(match.group(3))), match)
    for match in _SLASH_DATE_RE.finditer(text):
        first, second, year = int(match.group(1)), int(match.group(2)), int(match.group(3))
        month, day = (first, second) if first <= 12 else (second, first)
        add(_date_value(year, month, day), match)
    for match in _MONTH_DAY_RE.finditer(text):
        written_year = int(match.group(3)) if match.group(3) else None
        add(_date_value(written_year, _MONTHS[match.group(1)[:3]], int(match.group(2))), match)
    for match in _DAY_MONTH_RE.finditer(text):
        written_year = int(match.group(3)) if match.group(3) else None
        add(_date_value(written_year, _MONTHS[match.group(2)[:3]], int(match.group(1))), match)
    for match in _MONTH_YEAR_RE.finditer(text):
        add(_date_value(int(match.group(2)), _MONTHS[match.group(1)[:3]], None), match)
    for match in _YEAR_RE.finditer(text):
        if (
            not _overlaps(match.start(), match.end(), taken)
            and _UNIT_AFTER_RE.match(text, match.end()) is None
        ):
            taken.append((match.start(), match.end()))
            value = float(int(match.group(1)) * 10000)
            found.append(Quantity(value, "date", EQ, match.group(0), match.start(), match.end()))
    return found


def _find_clock_times(text: str, taken: list[tuple[int, int]]) -> list[Quantity]:
    found: list[Quantity] = []
    for match in _CLOCK_RE.finditer(text):
        minutes_raw, suffix = match.group(2), match.group(3)
        if minutes_raw is None and suffix is None:
            continue
        if _overlaps(match.start(), match.end(), taken):
            continue
        hour, minute = int(match.group(1)), int(minutes_raw or 0)
        if hour > 24 or minute > 59:
            continue
        daypart = _DAYPART_AFTER_RE.match(text, match.end())
        pm = bool(suffix and suffix.startswith("p")) or bool(
            daypart and daypart.group(1) in ("afternoon", "evening", "at night", "tonight")
        )
        if suffix and suffix.startswith("a") and hour == 12:
            hour = 0
        if pm and hour < 12:
            hour += 12
        # A time written without am/pm and with an hour of 1-12 matches either half of the day.
        ambiguous = not suffix and daypart is None and 1 <= hour <= 12
        taken.append((match.start(), match.end()))
        found.append(
            Quantity(
                float(hour * 60 + minute),
                "clock",
                EQ,
                match.group(0),
                match.start(),
                match.end(),
                approx=ambiguous,
            )
        )
    return found


def _overlaps(start: int, end: int, taken: list[tuple[int, int]]) -> bool:
    return any(start < taken_end and taken_start < end for taken_start, taken_end in taken)


def _find_amounts(text: str, taken: list[tuple[int, int]]) -> list[Quantity]:
    found: list[Quantity] = []
    for match in _NUMBER_RE.finditer(text):
        start, end = match.start(), match.end()
        if _overlaps(start, end, taken):
            continue
        value = _parse_number(match.group(0))
        high: float | None = None
        range_match = _RANGE_AFTER_RE.match(text, end)
        if range_match is not None and not _overlaps(range_match.start(1), range_match.end(1), taken):
            high = _parse_number(range_match.group(1))
            if high > value:
                end = range_match.end()
            else:
                high = None
        scale = 1.0
        scale_match = _SCALE_AFTER_RE.match(text, end)
        currency_before = _CURRENCY_BEFORE_RE.search(text, max(0, start - 4), start)
        dimension, factor, approx = "", 1.0, False
        if scale_match is not None and (
            currency_before is not None or scale_match.group(1) not in ("m", "b")
        ):
            scale = _SCALES[scale_match.group(1)]
            end = scale_match.end()
        percent = _PERCENT_AFTER_RE.match(text, end)
        currency_after = _CURRENCY_AFTER_RE.match(text, end)
        unit = _UNIT_AFTER_RE.match(text, end)
        if currency_before is not None:
            dimension = "money:" + _CURRENCY_CODES[currency_before.group(1)]
            start = currency_before.start()
        elif currency_after is not None:
            code = _CURRENCY_CODES[currency_after.group(1)]
            if code.endswith("/100"):
                code, factor = code[:-4], 0.01
            dimension = "money:" + code
            end = currency_after.end()
        elif percent is not None:
            dimension = "percent"
            end = percent.end()
        elif unit is not None:
            dimension, factor, approx = _UNITS[unit.group(1)]
            end = unit.end()
        else:
            noun = _NOUN_AFTER_RE.match(text, end)
            dimension = "count:" + (_noun_stem(noun.group(1)) if noun else "")
        scaled = value * scale * factor
        scaled_high = high * scale * factor if high is not None else None
        rate = _RATE_AFTER_RE.match(text, end)
        if rate is not None and not dimension.startswith("clock"):
            _, per_factor, per_approx = _UNITS[rate.group(1)]
            scaled = scaled / per_factor
            scaled_high = scaled_high / per_factor if scaled_high is not None else None
            dimension = (
                "rate:"
                + dimension.split(":")[0]
                + (":" + dimension.split(":", 1)[1] if dimension.startswith(("count:", "money:")) else "")
            )
            approx = approx or per_approx
            end = rate.end()
        bound = RANGE if scaled_high is not None else _bound_after(text, end, _bound_before(text, start))
        taken.append((start, end))
        found.append(Quantity(scaled, dimension, bound, text[start:end], start, end, scaled_high, approx))
    return found


@lru_cache(maxsize=4096)
def _noun_stem(word: str) -> str:
    from ._text import STOPWORDS, stem

    return "" if word in STOPWORDS else stem(word)


def prepare(normalised_text: str) -> str:
    """Rewrite number words as digits and "noon"/"midnight" as clock times."""
    text = words_to_digits(normalised_text)
    if "noon" in text or "midnight" in text:
        text = _NOON_RE.sub("12:00 pm", _MIDNIGHT_RE.sub("12:00 am", text))
    return text


def extract_quantities(prepared_text: str) -> list[Quantity]:
    """Return the quantities in a text from :func:`prepare`, in order of appearance.

    Offsets refer to the prepared text.
    """
    text = prepared_text
    if not any(char.isdigit() for char in text):
        return []
    taken: list[tuple[int, int]] = []
    quantities = _find_dates(text, taken)
    quantities += _find_clock_times(text, taken)
    quantities += _find_amounts(text, taken)
    quantities.sort(key=lambda quantity: quantity.start)
    return quantities


def _close(first: float, second: float, approx: bool) -> bool:
    tolerance = 0.025 if approx else 1e-6
    return abs(first - second) <= tolerance * max(abs(first), abs(second), 1e-12)


def _dates_agree(first: float, second: float) -> bool:
    a, b = int(first), int(second)
    parts_a = (a // 10000, a // 100 % 100, a % 100)
    parts_b = (b // 10000, b // 100 % 100, b % 100)
    return all(x == y or x == 0 or y == 0 for x, y in zip(parts_a, parts_b, strict=True))


def comparable(claim: Quantity, context: Quantity) -> bool:
    """Return whether two quantities measure the same thing, so that a difference contradicts."""
    if claim.dimension == context.dimension:
        return True
    # "5 users" and a bare "5" (or "5 of them") may still be the same count.
    return (
        claim.dimension.startswith("count:")
        and context.dimension.startswith("count:")
        and (claim.dimension == "count:" or context.dimension == "count:")
    )


def agree(claim: Quantity, context: Quantity) -> bool:
    """Return whether the claim's quantity is supported by a comparable context quantity."""
    if claim.dimension == "date":
        return _dates_agree(claim.value, context.value)
    approx = claim.approx or context.approx
    if claim.dimension == "clock":
        return any(
            _close(claim_value, context_value, False)
            for claim_value in _clock_readings(claim)
            for context_value in _clock_readings(context)
        )
    if claim.bound == RANGE or context.bound == RANGE:
        if claim.bound == RANGE and context.bound == RANGE:
            return _close(claim.value, context.value, approx) and _close(
                claim.high or 0.0, context.high or 0.0, approx
            )
        if context.bound == RANGE and claim.bound == UPPER:
            return _close(claim.value, context.high or 0.0, approx)
        if context.bound == RANGE and claim.bound == LOWER:
            return _close(claim.value, context.value, approx)
        return False
    if claim.bound != EQ and context.bound != EQ and claim.bound != context.bound:
        return False
    return _close(claim.value, context.value, approx)


def _clock_readings(quantity: Quantity) -> tuple[float, ...]:
    if quantity.approx:
        return (quantity.value, (quantity.value + 720.0) % 1440.0)
    return (quantity.value,)


def describe(quantity: Quantity) -> str:
    """Return the quantity as written in the text, for reasons and details."""
    return quantity.text.strip()
