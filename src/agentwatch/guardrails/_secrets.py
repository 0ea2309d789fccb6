"""Secret detection: API keys and tokens by their documented prefixes, private key blocks, and
high-entropy values assigned to names such as ``api_key`` or ``password``."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator

from ._pii import merge_spans
from ._result import LABEL_CLEAN, Guardrail, GuardrailResult, Span, count_kinds

# (kind, pattern). Specific prefixes come first, so they win over the generic rules on overlap.
# Each pattern starts with its literal prefix and checks the character before it with a lookbehind
# placed after the prefix: a pattern that starts with a literal is scanned many times faster.
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "private_key",
        re.compile(
            r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
            r"(?:.*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|[A-Za-z0-9+/=\s:,-]*)",
            re.DOTALL,
        ),
    ),
    ("anthropic_key", re.compile(r"sk-ant-(?<![\w-].{7})[A-Za-z0-9]{2,10}-[A-Za-z0-9_-]{20,}")),
    ("openai_key", re.compile(r"sk-(?<![\w-].{3})(?:(?:proj|svcacct|admin|None)-)?[A-Za-z0-9_-]{20,}")),
    (
        "aws_access_key",
        re.compile(
            r"(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|AROA|APKA|ASCA)(?<![A-Za-z0-9].{4})"
            r"[A-Z2-7]{16}(?![A-Za-z0-9])"
        ),
    ),
    ("github_token", re.compile(r"gh[pousr]_(?<![A-Za-z0-9_].{4})[A-Za-z0-9]{36,255}")),
    ("github_token", re.compile(r"github_pat_(?<![A-Za-z0-9_].{11})\w{22,255}")),
    ("slack_token", re.compile(r"xox[abposre]-(?<![A-Za-z0-9].{5})[A-Za-z0-9-]{10,}")),
    ("slack_webhook", re.compile(r"https://hooks\.slack\.com/(?:services|workflows)/[A-Za-z0-9_/]{20,}")),
    ("google_api_key", re.compile(r"AIza(?<![A-Za-z0-9_-].{4})[0-9A-Za-z_-]{35}(?![A-Za-z0-9_-])")),
    ("stripe_key", re.compile(r"(?:sk|rk|pk)_(?:live|test)_(?<![A-Za-z0-9].{8})[A-Za-z0-9]{16,}")),
    ("huggingface_token", re.compile(r"hf_(?<![A-Za-z0-9_].{3})[A-Za-z0-9]{30,}(?![A-Za-z0-9])")),
    ("jwt", re.compile(r"eyJ(?<![A-Za-z0-9_-].{3})[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")),
)
# user:password before the host of a URL; group 1 is the credential.
_URL_CREDENTIALS_RE = re.compile(r"://([^\s:/@\"'<>]{1,64}:[^\s/@\"'<>]{3,128})@[\w.-]+")

_BEARER_RE = re.compile(r"earer\s+([A-Za-z0-9\-._~+/]{16,}=*)")
_KEY_NAMES = (
    "api_key", "api-key", "apikey", "secret", "token", "passwd", "password", "pwd", "access_key",
    "access-key", "accesskey", "auth_key", "auth-key", "authkey", "credential", "private_key",
    "private-key", "privatekey",
)  # fmt: skip
# Starts at the key-like word itself; the rest of the name before it is found by scanning back.
_ASSIGNMENT_RE = re.compile(
    r"(?i)(?:api[_-]?key|apikey|secret|token|passwd|password|pwd|access[_-]?key|auth[_-]?key|"
    r"credentials?|private[_-]?key)[\w.-]*[\"']?\s*(?::=|=>|[:=])\s*[\"']?([^\s\"',;<>`]{6,})"
)
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
_PLACEHOLDER_RE = re.compile(
    r"(?i)^(?:x+|\*+|\.+|<.*>|\$\{?.*\}?|\{\{.*\}\}|%\(?.*|(?:your|my|the|some)[_-].*|"
    r"changeme|change[_-]me|placeholder|example|redacted|secret|password|null|none|true|false|"
    r"undefined|os\.environ.*|process\.env.*|env\(.*|getenv.*)$"
)
_PASSWORD_NAME_RE = re.compile(r"(?i)pass|pwd")

#: Values assigned to key-like names count as secrets from this Shannon entropy (bits per character).
MIN_ENTROPY = 3.0


def shannon_entropy(value: str) -> float:
    """Return the Shannon entropy of ``value`` in bits per character."""
    if not value:
        return 0.0
    counts: dict[str, int] = {}
    for char in value:
        counts[char] = counts.get(char, 0) + 1
    size = len(value)
    return -sum(count / size * math.log2(count / size) for count in counts.values())


def _looks_random(value: str) -> bool:
    classes = sum(
        (
            any(char.islower() for char in value),
            any(char.isupper() for char in value),
            any(char.isdigit() for char in value),
        )
    )
    return len(value) >= 12 and classes >= 2 and shannon_entropy(value) >= MIN_ENTROPY


def _assignments(text: str) -> Iterator[Span]:
    lowered = text.lower()
    if not any(name in lowered for name in _KEY_NAMES):
        return
    for match in _ASSIGNMENT_RE.finditer(text):
        name_start = match.start()
        while name_start > 0 and text[name_start - 1] in _NAME_CHARS:
            name_start -= 1
        name = text[name_start : match.start(1)]
        value = match.group(1)
        if _PLACEHOLDER_RE.match(value):
            continue
        if _PASSWORD_NAME_RE.search(name):
            # Passwords are short and low in entropy; a value with a digit or symbol counts.
            if not any(not char.isalpha() for char in value):
                continue
        elif not _looks_random(value):
            continue
        yield match.start(1), match.end(1), "assigned_secret"


def _bearer_tokens(text: str) -> Iterator[Span]:
    for match in _BEARER_RE.finditer(text):
        word_start = match.start() - 1
        if word_start < 0 or text[word_start] not in "Bb":
            continue
        if word_start > 0 and text[word_start - 1].isalnum():
            continue
        if _looks_random(match.group(1)):
            yield match.start(1), match.end(1), "bearer_token"


def _url_credentials(text: str) -> Iterator[Span]:
    for match in _URL_CREDENTIALS_RE.finditer(text):
        yield match.start(1), match.end(1), "url_credentials"


class SecretsGuardrail(Guardrail):
    """Detect API keys, tokens and private keys.

    Known formats: OpenAI (``sk-``, ``sk-proj-``), Anthropic (``sk-ant-``), AWS access key ids,
    GitHub (``ghp_``, ``github_pat_``...), Slack tokens and webhooks, Google API keys, Stripe keys,
    Hugging Face tokens, JWTs, bearer tokens, user:password in URLs and PEM/PGP private key blocks.
    Any other value assigned to a key-like name (``api_key=``, ``"client_secret": ``) counts when it
    looks random: at least 12 characters, two character classes and 3.0 bits of entropy per
    character. Values of password-like names count when they contain a digit or symbol.
    Placeholders such as ``<your-key>``, ``xxxx`` and ``${TOKEN}`` are ignored.
    """

    name = "secrets"
    security = True

    def find(self, text: str) -> list[Span]:
        """Return the secret spans in ``text``, sorted, without overlaps."""
        found: list[Span] = []
        for kind, pattern in _PATTERNS:
            found.extend((match.start(), match.end(), kind) for match in pattern.finditer(text))
        found.extend(_url_credentials(text))
        found.extend(_bearer_tokens(text))
        found.extend(_assignments(text))
        return merge_spans(found)

    def _check(self, stage: str, text: str) -> GuardrailResult:
        spans = self.find(text)
        if not spans:
            return self.result(stage, True, LABEL_CLEAN, "No secrets found.")
        return self.result(stage, False, "secret", f"Found secrets: {count_kinds(spans)}.", spans)
