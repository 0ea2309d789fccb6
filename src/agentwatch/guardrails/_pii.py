"""PII detection: e-mail addresses, phone numbers, payment cards, IBANs and national ids.

Each detector is a regular expression for candidates plus a validator. Cards need the Luhn
checksum, IBANs ISO 13616 mod-97 and their country's length, and US Social Security numbers the
issued ranges. Phone numbers need a known layout, and context rules keep order numbers, dates,
prices and version strings out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from ._result import LABEL_CLEAN, Guardrail, GuardrailResult, Span, count_kinds

EMAIL = "email"
PHONE = "phone"
CARD = "card"
IBAN = "iban"
NATIONAL_ID = "national_id"
PII_KINDS = (EMAIL, PHONE, CARD, IBAN, NATIONAL_ID)

# The domain part of an e-mail address, from the "@". The local part is found by scanning back,
# because a pattern that starts with a literal is scanned many times faster than one starting with a class.
_EMAIL_DOMAIN_RE = re.compile(r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![\w-])")
_LOCAL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-")
# Numbers worth a closer look: at least two digits with spaces, dots, dashes or brackets between.
_NUMBER_RUN_RE = re.compile(r"\d[\d \t().-]{5,}\d")

# Card candidates: 13 to 19 digits, optionally in groups split by single spaces or dashes.
_CARD_RE = re.compile(r"(?<![\d.,-])\d(?:[ -]?\d){12,18}(?![\d]|[.,-]\d)")
_CARD_GROUPINGS = {(4, 4, 4, 4), (4, 4, 4, 4, 3), (4, 6, 5), (4, 6, 4), (4, 4, 4, 1), (4, 4, 4, 4, 2)}

_IBAN_RE = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}(?![A-Za-z0-9])")
# ISO 13616 IBAN lengths per country (SWIFT IBAN registry).
_IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20,
    "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18,
    "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24,
    "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24,
    "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip

# US SSN: area 001-899 except 666, group 01-99, serial 0001-9999, one separator used throughout.
_SSN_RE = re.compile(r"(?<![\d-])(?!000|666|9)\d{3}([- ])(?!00)\d{2}\1(?!0000)\d{4}(?![\d]|-\d)")
_SSN_BARE_RE = re.compile(r"(?<![\d-])(?!000|666|9)\d{3}(?!00)\d{2}(?!0000)\d{4}(?![\d]|-\d)")
_SSN_CONTEXT_RE = re.compile(r"(?:ssn|social\s+security(?:\s+(?:number|no\.?|#))?|\bss#)\W{0,4}$", re.I)
# UK National Insurance number; prefixes BG, GB, NK, KN, TN, NT and ZZ are never issued.
# UK National Insurance number; prefixes BG, GB, NK, KN, TN, NT and ZZ are never issued.
_NINO_RE = re.compile(
    r"[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z](?<![A-Za-z0-9]..)(?<!BG|GB|NK|KN|TN|NT|ZZ)"
    r" ?\d{2} ?\d{2} ?\d{2} ?[A-D](?![A-Za-z0-9])"
)

# Phone candidates: an optional + or 00, then digits with spaces, dots, dashes or brackets between.
_PHONE_RE = re.compile(r"(?<![\w+.,/-])(?:\+|\(\+?)?\d[\d \t().-]{5,22}\d(?![\w]|[.,/:-]\d)")
_PHONE_GROUP_RE = re.compile(r"(?:\+|\(\+?)?\d+\)?")
_NANP_RE = re.compile(r"(?:\+?1[ .-]?)?(?:\([2-9]\d{2}\) ?|[2-9]\d{2}([ .-]))[2-9]\d{2}(?(1)\1|[ .-])\d{4}")
_INTERNATIONAL_RE = re.compile(r"(?:\+|00)[1-9]\d{0,2}(?:[ .-]?\(?\d{1,4}\)?)(?:[ .-]?\d{2,8}){1,5}")
_NATIONAL_RE = re.compile(r"(?:\(0\d{1,4}\) ?|0\d{1,4}[ .-])\d{2,8}(?:[ .-]\d{2,4}){0,3}")
_DATE_RE = re.compile(r"\d{1,4}([./-])\d{1,2}\1\d{1,4}")
_PHONE_CONTEXT_RE = re.compile(
    r"(?:phone|tel|telephone|mobile|cell|call|text|sms|whatsapp|fax|contact|reach)\b[^\n]{0,24}$", re.I
)
_NOT_PHONE_CONTEXT_RE = re.compile(
    r"(?:order|invoice|ticket|tracking|case|ref|reference|account|acct|item|sku|serial|part|model|"
    r"version|build|id|no\.?|#|\$|€|£|¥|usd|eur|gbp)\s*[:#.]?\s*$",
    re.I,
)
_MONEY_AFTER_RE = re.compile(r"^\s*(?:€|eur|usd|gbp|dollars?|euros?|pounds?|%)", re.I)


def luhn_valid(digits: str) -> bool:
    """Return True when the digit string passes the Luhn (mod 10) checksum."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _card_brand_ok(digits: str) -> bool:
    length = len(digits)
    prefix2 = int(digits[:2])
    prefix4 = int(digits[:4])
    if digits[0] == "4":
        return length in (13, 16, 19)
    if 51 <= prefix2 <= 55 or 2221 <= prefix4 <= 2720:
        return length == 16
    if prefix2 in (34, 37):
        return length == 15
    if prefix4 == 6011 or prefix2 == 65 or 644 <= int(digits[:3]) <= 649:
        return 16 <= length <= 19
    if prefix2 in (35, 62):
        return 16 <= length <= 19
    if prefix2 in (36, 38, 39) or 300 <= int(digits[:3]) <= 305:
        return 14 <= length <= 19
    return False


def _cards(text: str, start: int, end: int) -> Iterator[Span]:
    for match in _CARD_RE.finditer(text, start, end):
        candidate = match.group()
        digits = re.sub(r"[ -]", "", candidate)
        separators = set(re.findall(r"[ -]", candidate))
        if len(separators) > 1:
            continue
        if separators:
            groups = tuple(len(group) for group in re.split(r"[ -]", candidate))
            if groups not in _CARD_GROUPINGS:
                continue
        if _card_brand_ok(digits) and luhn_valid(digits):
            yield match.start(), match.end(), CARD


def iban_valid(compact: str) -> bool:
    """Return True when ``compact`` (no spaces) passes the ISO 13616 mod-97 check."""
    rearranged = compact[4:] + compact[:4]
    number = "".join(str(int(char, 36)) for char in rearranged)
    return int(number) % 97 == 1


def _ibans(text: str) -> Iterator[Span]:
    for match in _IBAN_RE.finditer(text):
        candidate = match.group()
        expected = _IBAN_LENGTHS.get(candidate[:2])
        compact = candidate.replace(" ", "")
        if expected is not None:
            if len(compact) < expected:
                continue
            # A longer candidate swallowed a following word; cut it at the country's length.
            compact = compact[:expected]
        elif not 15 <= len(compact) <= 34:
            continue
        if not iban_valid(compact):
            continue
        end = match.start()
        kept = 0
        while kept < len(compact):
            if text[end] != " ":
                kept += 1
            end += 1
        yield match.start(), end, IBAN


def _national_ids(text: str, start: int, end: int) -> Iterator[Span]:
    for match in _SSN_RE.finditer(text, start, end):
        yield match.start(), match.end(), NATIONAL_ID
    for match in _SSN_BARE_RE.finditer(text, start, end):
        if _SSN_CONTEXT_RE.search(text, max(0, match.start() - 30), match.start()):
            yield match.start(), match.end(), NATIONAL_ID


def _insurance_numbers(text: str) -> Iterator[Span]:
    for match in _NINO_RE.finditer(text):
        yield match.start(), match.end(), NATIONAL_ID


def _emails(text: str) -> Iterator[Span]:
    for match in _EMAIL_DOMAIN_RE.finditer(text):
        start = match.start()
        while start > 0 and match.start() - start < 64 and text[start - 1] in _LOCAL_CHARS:
            start -= 1
        # The local part starts and ends with a letter or digit, not a dot or sign.
        while start < match.start() and not text[start].isalnum():
            start += 1
        if start < match.start() and text[match.start() - 1] != ".":
            yield start, match.end(), EMAIL


def _number_windows(text: str) -> list[tuple[int, int]]:
    # Each run of digits and separators, widened by two characters on each side so that the
    # detectors' own lookbehind and lookahead see a leading "+" or "(" and what follows.
    return [
        (max(0, match.start() - 2), min(len(text), match.end() + 2))
        for match in _NUMBER_RUN_RE.finditer(text)
    ]


def _phone_shape_ok(candidate: str) -> bool:
    if _DATE_RE.fullmatch(candidate):
        return False
    if candidate.startswith(("+", "00", "(+")):
        digits = sum(char.isdigit() for char in candidate) - (2 if candidate.startswith("00") else 0)
        return 8 <= digits <= 15 and _INTERNATIONAL_RE.fullmatch(candidate.replace("(+", "+", 1)) is not None
    if _NANP_RE.fullmatch(candidate):
        return True
    if _NATIONAL_RE.fullmatch(candidate):
        digits = sum(char.isdigit() for char in candidate)
        separators = set(re.findall(r"[ .-]", candidate))
        return 9 <= digits <= 11 and len(separators) <= 1
    return False


def _phone_at(text: str, start: int, end: int) -> bool:
    candidate = text[start:end]
    shaped = _phone_shape_ok(candidate)
    # A bare run of 10 or 11 digits counts only where the words before it name a phone.
    bare = candidate.isdigit() and len(candidate) in (10, 11)
    if not shaped and not bare:
        return False
    if _MONEY_AFTER_RE.match(text, end, min(len(text), end + 10)):
        return False
    before = text[max(0, start - 30) : start]
    phone_context = _PHONE_CONTEXT_RE.search(before) is not None
    if not phone_context and _NOT_PHONE_CONTEXT_RE.search(before):
        return False
    return shaped or phone_context


def _splits_uniform_run(text: str, groups: list[tuple[int, int]], first: int, last: int) -> bool:
    # Cutting a phone number out of a longer run of groups is allowed only where the cut falls on a
    # different separator: "2 415-555-0123" contains a phone, "3704 0044 0532 0130 01" does not.
    inner = {text[groups[i][1] : groups[i + 1][0]].strip("()") for i in range(first, last)}
    cuts = []
    if first > 0:
        cuts.append(text[groups[first - 1][1] : groups[first][0]].strip("()"))
    if last < len(groups) - 1:
        cuts.append(text[groups[last][1] : groups[last + 1][0]].strip("()"))
    return any(cut in inner for cut in cuts)


def _phones(text: str, start: int, end: int) -> Iterator[Span]:
    for match in _PHONE_RE.finditer(text, start, end):
        # The candidate can run into numbers on either side ("2 415-555-0123 12"), so try its
        # runs of whole digit groups, longest first, and keep each one that is a phone number.
        groups = [(group.start(), group.end()) for group in _PHONE_GROUP_RE.finditer(text, *match.span())]
        digits = [0]
        for group_start, group_end in groups:
            digits.append(digits[-1] + sum(char.isdigit() for char in text[group_start:group_end]))
        first = 0
        while first < len(groups):
            for last in range(len(groups) - 1, first - 1, -1):
                start, end = groups[first][0], groups[last][1]
                # Phone numbers have 8 to 15 digits (E.164 allows at most 15).
                if not 8 <= digits[last + 1] - digits[first] <= 15:
                    continue
                if _splits_uniform_run(text, groups, first, last):
                    continue
                if _phone_at(text, start, end):
                    yield start, end, PHONE
                    first = last
                    break
            first += 1


def merge_spans(spans: Iterable[Span]) -> list[Span]:
    """Sort spans and drop each one that overlaps a span found before it (earlier kinds win)."""
    kept: list[Span] = []
    for span in spans:
        if not any(span[0] < other[1] and other[0] < span[1] for other in kept):
            kept.append(span)
    return sorted(kept)


class PiiGuardrail(Guardrail):
    """Detect e-mail addresses, phone numbers, payment cards, IBANs and national ids.

    Args:
        kinds: which kinds to look for; default all of ``PII_KINDS``.
        max_chars: longer text is not scanned and gives an ``"error"`` result.

    Cards must pass the Luhn checksum and match a card brand's prefix and length. IBANs must pass
    mod-97 and their country's length. Phone numbers must have a plus and country code, a North
    American 3-3-4 layout, or a national trunk 0 with 9 to 11 digits. A bare run of 10 or 11 digits
    counts only after a word such as "phone" or "call". Numbers after "order", "invoice", "#" or a
    currency sign, dates and prices are not phone numbers. National ids cover US Social Security
    numbers (dashed, or bare after "SSN") and UK National Insurance numbers.
    """

    name = "pii"
    security = True

    def __init__(self, kinds: Iterable[str] = PII_KINDS, *, max_chars: int | None = None) -> None:
        super().__init__(**({} if max_chars is None else {"max_chars": max_chars}))
        self.kinds = tuple(kinds)
        for kind in self.kinds:
            if kind not in PII_KINDS:
                raise ValueError(f"Unknown PII kind {kind!r}. Valid kinds: {', '.join(PII_KINDS)}.")

    def find(self, text: str) -> list[Span]:
        """Return the PII spans in ``text``, sorted, without overlaps."""
        found: list[Span] = []
        # Order matters for overlaps: a card or IBAN wins over the phone-like digits inside it.
        if EMAIL in self.kinds:
            found.extend(_emails(text))
        if IBAN in self.kinds:
            found.extend(_ibans(text))
        windows = _number_windows(text) if {CARD, NATIONAL_ID, PHONE} & set(self.kinds) else []
        if CARD in self.kinds:
            found.extend(span for window in windows for span in _cards(text, *window))
        if NATIONAL_ID in self.kinds:
            found.extend(span for window in windows for span in _national_ids(text, *window))
            found.extend(_insurance_numbers(text))
        if PHONE in self.kinds:
            found.extend(span for window in windows for span in _phones(text, *window))
        return merge_spans(found)

    def _check(self, stage: str, text: str) -> GuardrailResult:
        spans = self.find(text)
        if not spans:
            return self.result(stage, True, LABEL_CLEAN, "No PII found.")
        return self.result(stage, False, "pii", f"Found PII: {count_kinds(spans)}.", spans)
