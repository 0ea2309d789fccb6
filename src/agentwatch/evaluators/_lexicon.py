"""Word lists for the rule-based tier: synonyms, antonyms, quantifiers, abstentions, filler.

The lists are small on purpose. Paraphrases beyond them are the local model's job; the rules only
need the words whose swap turns a true statement into a false one.
"""

from __future__ import annotations

import re

from ._text import stem

# Past tenses and plurals that suffix stripping cannot reach.
IRREGULAR = {
    "rose": "rise", "risen": "rise", "fell": "fall", "fallen": "fall", "grew": "grow",
    "grown": "grow", "sold": "sell", "bought": "buy", "paid": "pay", "won": "win", "lost": "lose",
    "began": "begin", "begun": "begin", "led": "lead", "left": "leave", "sent": "send",
    "spent": "spend", "took": "take", "taken": "take", "gave": "give", "given": "give",
    "made": "make", "held": "hold", "kept": "keep", "met": "meet", "ran": "run", "shut": "close",
    "children": "child", "people": "person", "men": "man", "women": "woman", "better": "good",
    "best": "good", "worse": "bad", "worst": "bad", "more": "more", "less": "less",
}  # fmt: skip

# Each group is reduced to its first word, so the rules treat the members as one word.
_SYNONYM_GROUPS = (
    "increase rise grow climb gain raise go-up",
    "decrease fall drop decline shrink reduce cut",
    "cost price fee charge",
    "buy purchase",
    "refund reimburse reimbursement",
    "begin start commence",
    "end finish conclude",
    "close shut",
    "allow permit let enable",
    "forbid prohibit ban disallow",
    "approve authorise authorize sign-off",
    "reject deny refuse decline-request",
    "lead head run manage",
    "customer client",
    "employee staff worker",
    "expire lapse",
    "large big",
    "small little",
    "quick fast rapid",
    "slow sluggish",
    "help assist support",
    "require need must",
    "include contain cover",
    "exclude omit",
    "locate base headquarter situate",
    "get receive",
    "send ship deliver dispatch",
    "free complimentary gratis",
    "show display",
    "entry admission entrance",
    "answer reply respond",
    "task job",
    "doctor physician",
    "car vehicle automobile",
)

CANONICAL: dict[str, str] = {}
for _group in _SYNONYM_GROUPS:
    _words = [stem(word) for word in _group.split()]
    for _word in _words:
        CANONICAL.setdefault(_word, _words[0])


def canonical(token: str) -> str:
    """Reduce a lower-case token to the stem that stands for its synonym group."""
    base = stem(IRREGULAR.get(token, token))
    return CANONICAL.get(base, base)


# Pairs of opposites, written as plain words and reduced with `canonical` below.
_ANTONYMS = (
    ("increase", "decrease"), ("open", "close"), ("include", "exclude"), ("allow", "forbid"),
    ("accept", "reject"), ("approve", "reject"), ("begin", "end"), ("first", "last"),
    ("earliest", "latest"), ("early", "late"), ("fast", "slow"), ("faster", "slower"),
    ("quick", "slow"), ("quicker", "slower"), ("cheap", "expensive"), ("cheaper", "pricier"),
    ("enable", "disable"), ("win", "lose"), ("gain", "loss"), ("profit", "loss"),
    ("import", "export"), ("buy", "sell"), ("paid", "unpaid"), ("required", "optional"),
    ("mandatory", "optional"), ("public", "private"), ("internal", "external"),
    ("available", "unavailable"), ("safe", "unsafe"), ("safe", "dangerous"),
    ("recommended", "discouraged"), ("true", "false"), ("success", "failure"), ("pass", "fail"),
    ("same", "different"), ("north", "south"), ("east", "west"), ("left", "right"),
    ("inbound", "outbound"), ("input", "output"), ("add", "remove"),
    ("encrypted", "unencrypted"), ("online", "offline"), ("free", "paid"), ("valid", "invalid"),
    ("legal", "illegal"), ("possible", "impossible"), ("active", "inactive"),
    ("permanent", "temporary"), ("full", "partial"), ("maximum", "minimum"), ("max", "min"),
    ("highest", "lowest"), ("largest", "smallest"), ("strong", "weak"), ("hot", "cold"),
    ("arrive", "depart"), ("upload", "download"), ("win", "loss"), ("good", "bad"),
    ("young", "old"), ("new", "old"), ("light", "heavy"), ("lighter", "heavier"),
    ("shorter", "longer"), ("short", "long"), ("smaller", "larger"), ("small", "large"),
)  # fmt: skip
# Comparators flip the direction of a relation; they are reported as comparator flips.
_COMPARATORS = (
    ("more", "less"), ("more", "fewer"), ("higher", "lower"), ("above", "below"),
    ("over", "under"), ("before", "after"), ("earlier", "later"), ("greater", "smaller"),
    ("exceed", "below"), ("older", "younger"), ("upper", "lower"), ("after", "prior"),
)  # fmt: skip

OPPOSITES: dict[str, set[str]] = {}
COMPARATOR_WORDS: set[str] = set()
for _pairs, _is_comparator in ((_ANTONYMS, False), (_COMPARATORS, True)):
    for _first, _second in _pairs:
        _a, _b = canonical(_first), canonical(_second)
        OPPOSITES.setdefault(_a, set()).add(_b)
        OPPOSITES.setdefault(_b, set()).add(_a)
        if _is_comparator:
            COMPARATOR_WORDS.update((_a, _b))

#: Quantifiers that claim "all of them" and those that restrict to a part.
UNIVERSAL = frozenset({"all", "every", "always", "both", "entire", "everyone", "everything", "any"})
RESTRICTED = frozenset(
    {"some", "only", "first", "certain", "sometimes", "occasionally", "several", "few", "most",
     "many", "select", "selected", "exclusively", "solely", "part", "partial", "usually"}
)  # fmt: skip
QUANTIFIERS = UNIVERSAL | RESTRICTED

ABSTENTION_RE = re.compile(
    r"\b(?:i|we)\s+(?:could|can|did|do|was|am|were)?\s*(?:not|unable to|never)\s+"
    r"(?:find|locate|determine|see|tell|know|confirm|verify|answer)\b"
    r"|\b(?:i|we)\s+(?:do|did)\s+not\s+have\s+(?:enough\s+)?(?:information|data|details)\b"
    r"|\b(?:context|documents?|documentation|sources?|information|text|passages?|data|records?|"
    r"notes?|knowledge base|materials?)\b[^.]{0,40}?\b(?:does|do|did|can)\s+not\s+"
    r"(?:say|mention|specify|state|contain|include|provide|cover|tell|indicate|address|describe)\b"
    r"|\bno\s+(?:information|mention|details?|data)\s+(?:about|on|of|regarding|is given)\b"
    r"|\bnot\s+(?:mentioned|specified|stated|covered|provided|available|given)\s+in\s+the\b"
    r"|\b(?:is|are)\s+not\s+(?:mentioned|specified|stated|covered|given)\b"
    r"|\bunable\s+to\s+(?:find|answer|determine|locate)\b"
    r"|\bi\s+(?:do\s+not|don't)\s+know\b"
    r"|\bthere\s+is\s+no\s+information\b"
)

_FILLER_RE = re.compile(
    r"^(?:sure|certainly|of course|absolutely|great question|thanks?(?: you)?|hello|hi|hey|"
    r"okay|ok|yes|no|here(?:'s| is| are) (?:what|the answer|some)|let me know\b.*|"
    r"i hope (?:this|that) helps\b.*|hope (?:this|that) helps\b.*|feel free\b.*|"
    r"is there anything else\b.*|anything else\b.*|glad to help\b.*|happy to help\b.*|"
    r"good luck\b.*)[\s!.,:]*$"
)


def is_abstention(normalised_sentence: str) -> bool:
    """Return whether the sentence declines to answer for lack of evidence."""
    return ABSTENTION_RE.search(normalised_sentence) is not None


def is_filler(normalised_sentence: str) -> bool:
    """Return whether the sentence is a greeting, an offer of help or a question (nothing to ground)."""
    stripped = normalised_sentence.strip()
    return not stripped or stripped.endswith("?") or _FILLER_RE.match(stripped) is not None


_PHRASES = (
    (
        re.compile(
            r"\b(?:costs?|charges?|pays?) nothing\b|\bat no (?:cost|charge)\b|\bfree of charge\b"
            r"|\bno charge\b|\bwithout charge\b"
        ),
        "is free",
    ),
)
_BOUND_PHRASES_RE = re.compile(
    r"\bno (?:more|less|fewer|later|earlier|longer) than\b"
    r"|\bnot (?:\w+ ){0,2}?(?:more|less|fewer|later) than\b"
    r"|\bnot (?:to )?exceed\b|\bnot (?:\w+ )?exceeding\b"
)


def rewrite_phrases(normalised_text: str) -> str:
    """Rewrite phrases whose words mislead the rules ("costs nothing" has no negation)."""
    for pattern, replacement in _PHRASES:
        normalised_text = pattern.sub(replacement, normalised_text)
    return normalised_text


def strip_bound_phrases(normalised_text: str) -> str:
    """Remove "no more than"-style bounds, whose "no"/"not" is not a negation of the claim."""
    return _BOUND_PHRASES_RE.sub(" ", normalised_text)
