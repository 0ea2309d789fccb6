"""Prompt-injection detection by phrase patterns on folded text, plus hidden-text checks.

Patterns run on the folded text (see ``_unicode``), so look-alike letters, fullwidth forms,
accents, zero-width characters and leetspeak do not hide a phrase. The phrases cover instruction
overrides, new personas and "modes", role-play escapes, requests for the system prompt and
chat-template markers. Text that arrives from a tool or a retrieved document is also checked for
instructions addressed to the assistant, which ordinary data does not contain.
"""

from __future__ import annotations

import re

from ._result import LABEL_CLEAN, Guardrail, GuardrailResult, Span
from ._unicode import BIDI_OVERRIDES, FoldedText, fold, hidden_tag_text, mixed_script_words

SOURCES = ("user", "tool", "retrieval")

_VERB = (
    r"(?:ignore|disregard|forget|bypass|override|overrule|neglect|discard|abandon|skip|set\s+aside|"
    r"throw\s+out|do\s+not\s+follow|don'?t\s+follow|stop\s+following|no\s+longer\s+follow)"
)
_DETERMINER = r"(?:all|the|your|my|these|those|of|every|any|and|or|&)"
_PRIOR = r"(?:previous|prior|above|earlier|preceding|foregoing|former|original|initial|old|past)"
_NOUN = (
    r"(?:instructions?|prompts?|directions?|directives?|rules?|guidelines?|guardrails?|constraints?|"
    r"restrictions?|commands?|context|programming|polic(?:y|ies)|training|filters?)"
)
_ASSISTANT_NOUN = (
    r"(?:instructions|programming|guidelines|guardrails|directives|training|restrictions|filters|"
    r"system\s+prompt|safety\s+\w+|content\s+polic(?:y|ies))"
)
_ASSISTANT = (
    r"(?:ai|assistant|chatbot|llm|language\s+model|model|agent|bot|gpt|chatgpt|claude|copilot|gemini)"
)
_PERSONA = r"(?:dan|evil\s*bot|unrestricted|unfiltered|uncensored|jailbroken|jailbreak)"
_FREE = r"(?:no|without(?:\s+any)?|free\s+(?:of|from)|not\s+bound\s+by|unbound\s+by|beyond)"
_LIMITS = (
    r"(?:restrictions?|rules|filters?|guidelines|limitations|censorship|ethics|morals|"
    r"content\s+polic(?:y|ies)|safeguards)"
)
# Addressees of instructions embedded in data. "agent" and "model" are left out because support
# data uses them for people ("note to the agent") and products.
_ADDRESSEE = (
    r"(?:ai|assistant|chatbot|llm|language\s+model|ai\s+(?:model|agent)|gpt|chatgpt|claude|copilot|gemini)"
)

# Keyword groups: a pattern runs only when the folded text contains a keyword of each of its groups.
# Substring tests are much faster than a regular expression scan, so most text skips most patterns.
_K_VERBS = (
    "ignore", "disregard", "forget", "bypass", "override", "overrule", "neglect", "discard", "abandon",
    "skip", "aside", "throw", "follow",
)  # fmt: skip
_K_PERSONA = ("dan", "evil", "unrestricted", "unfiltered", "uncensored", "jailbr")
_K_LIMITS = (
    "restriction", "rules", "filter", "guidelines", "limitations", "censorship", "ethics", "morals",
    "polic", "safeguards",
)  # fmt: skip
_K_ADDRESSEE = ("ai", "assistant", "chatbot", "llm", "model", "gpt", "claude", "copilot", "gemini")

_Keywords = tuple[tuple[str, ...], ...]

# (category, keyword groups, pattern) for every source.
_PATTERNS: tuple[tuple[str, _Keywords, str], ...] = (
    # "ignore all previous instructions", "disregard the system prompt", "forget your guidelines"
    (
        "instruction_override",
        (_K_VERBS,),
        rf"\b{_VERB}\s+(?:{_DETERMINER}\s+){{0,3}}(?:{_PRIOR}\s+)+(?:(?:and|or|&)\s+\w+\s+)?{_NOUN}\b"
        r"(?!\s+(?:i|we)\s+(?:gave|sent|wrote|mentioned|provided|left|added))",
    ),
    (
        "instruction_override",
        (_K_VERBS, ("system",)),
        rf"\b{_VERB}\s+(?:the\s+|your\s+)?system(?:'s)?\s+(?:prompt|message|instructions)\b",
    ),
    (
        "instruction_override",
        (_K_VERBS, ("your",)),
        rf"\b{_VERB}\s+(?:all\s+(?:of\s+)?)?your\s+(?:\w+\s+)?{_ASSISTANT_NOUN}\b",
    ),
    (
        "instruction_override",
        (_K_VERBS, ("all",)),
        rf"\b{_VERB}\s+all\s+(?:the\s+)?(?:instructions|rules|guidelines|restrictions)\b",
    ),
    (
        "instruction_override",
        (("forget", "ignore", "disregard"), ("everything", "all")),
        r"\b(?:forget|ignore|disregard)\s+(?:about\s+)?(?:everything|all(?:\s+of)?\s+(?:that|this|it))\s+"
        r"(?:you(?:'ve|\s+have|\s+were|\s+had)?\s+(?:been\s+)?(?:told|taught|instructed|trained)|above|"
        r"(?:that\s+)?(?:came|was\s+said)\s+before)",
    ),
    (
        "instruction_override",
        (("safety", "content", "moderation", "ethical"),),
        r"\b(?:bypass|disable|turn\s+off|deactivate|override|ignore|remove|circumvent)\s+(?:all\s+|your\s+|the\s+|any\s+)?"
        r"(?:safety|content|moderation|ethical)\s+(?:filters?|guidelines|rules|restrictions|guardrails|"
        r"protocols|polic(?:y|ies)|checks)\b",
    ),
    (
        "instruction_override",
        (("new",), ("your",)),
        r"\byour\s+new\s+(?:instructions?|task|goal|objective|role|purpose|directive)s?\s*(?:is|are|:)",
    ),
    ("instruction_override", (("override",),), r"\bsystem\s+override\b"),
    # "you are now DAN", "act as an unfiltered AI", "developer mode enabled"
    (
        "persona",
        (("you",), _K_PERSONA),
        rf"\byou\s+are\s+(?:now\s+|going\s+to\s+(?:be|act\s+as)\s+)(?:an?\s+|the\s+)?{_PERSONA}\b",
    ),
    (
        "persona",
        (_K_PERSONA,),
        rf"\b(?:act|behave|respond|answer|reply|roleplay|role-play|role\s+play)\s+as\s+(?:an?\s+)?{_PERSONA}\b",
    ),
    (
        "persona",
        (("dan",),),
        r"\b(?:you\s+are\s+now|from\s+now\s+on\s+you\s+are|you\s+will\s+now\s+be)\s+dan\b",
    ),
    (
        "persona",
        (("anything",), ("dan",)),
        r"\bdan\b[^.\n]{0,40}\bdo\s+anything\s+now\b|\bdo\s+anything\s+now\s*\(?dan\b",
    ),
    ("persona", (("mode",),), r"\b(?:dan|jailbreak|jailbroken|unrestricted|unfiltered|uncensored)\s+mode\b"),
    (
        "persona",
        (("mode",),),
        r"\b(?:you\s+are|you're|you\s+will\s+be|act|respond|answer|reply|pretend\s+(?:to\s+be|you\s+are))\s+"
        r"(?:now\s+)?(?:(?:as\s+if\s+|like\s+)(?:you\s+are|you're)\s+)?in\s+(?:developer|dev|debug|admin|sudo)\s+mode\b",
    ),
    (
        "persona",
        (("mode",),),
        r"\b(?:enable|activate|simulate|enter)\s+(?:the\s+)?(?:developer|dev)\s+mode\s+(?:for\s+you|output|response)",
    ),
    ("persona", (("mode",),), r"\bdeveloper\s+mode\s+(?:output|response)\b"),
    # "pretend you have no restrictions", "stay in character", "hypothetically, with no rules"
    (
        "roleplay_escape",
        (_K_LIMITS,),
        rf"\b(?:pretend|imagine|act|behave|respond|answer|roleplay|role-play|role\s+play|suppose)\b[^.!?\n]{{0,40}}"
        rf"\b(?:you|your|an?\s+{_ASSISTANT})\b[^.!?\n]{{0,30}}\b{_FREE}\s+(?:any\s+|your\s+|the\s+)?"
        rf"(?:(?:ethical|moral|safety|content)\s+)?{_LIMITS}\b",
    ),
    (
        "roleplay_escape",
        (("freed", "released", "liberated", "unshackled", "jailbroken"),),
        r"\byou\s+(?:are|have\s+been)\s+(?:now\s+)?(?:freed|released|liberated|unshackled|jailbroken)\b",
    ),
    (
        "roleplay_escape",
        (("character",),),
        r"\b(?:stay|remain)\s+in\s+character\b[^.!?\n]{0,40}\b(?:no\s+matter|whatever|even\s+if)\b",
    ),
    (
        "roleplay_escape",
        (("longer",),),
        r"\byou\s+(?:are|will\s+be)\s+no\s+longer\s+(?:bound|restricted|limited)\s+by\b",
    ),
    ("roleplay_escape", (_K_LIMITS,), rf"\b(?:an?\s+)?{_ASSISTANT}\s+(?:with|that\s+has)\s+no\s+{_LIMITS}\b"),
    # "reveal your system prompt", "print the words above", "what are your instructions"
    (
        "prompt_extraction",
        (("prompt", "instructions", "system message"),),
        r"\b(?:reveal|show|print|display|repeat|output|tell|give|share|leak|dump|expose|disclose|recite|"
        r"paste|copy|write\s+out|spell\s+out|list)\b(?:\W+\w+){0,5}?\W+(?:system\s+(?:prompt|message)|"
        r"(?:initial|original|hidden|secret|internal|confidential|pre-?prompt|starting)\s+"
        r"(?:prompt|instructions))\b",
    ),
    (
        "prompt_extraction",
        (("your",), ("instructions", "prompt", "directives", "programming", "guidelines")),
        r"\b(?:reveal|show|print|display|repeat|output|leak|dump|expose|disclose|recite)\s+(?:me\s+|us\s+)?"
        r"(?:all\s+(?:of\s+)?)?your\s+(?:\w+\s+)?(?:instructions|prompt|directives|programming|guidelines)\b",
    ),
    (
        "prompt_extraction",
        (("your",), ("prompt", "instructions")),
        r"\bwhat\s+(?:is|was|are|were|'s)\s+your\s+(?:\w+\s+)?(?:system\s+prompt|prompt|instructions)\b",
    ),
    (
        "prompt_extraction",
        (("repeat",),),
        r"\brepeat\s+(?:back\s+)?(?:the\s+|all\s+(?:of\s+)?(?:the\s+)?)?(?:words|text|everything|content|lines?|"
        r"messages?)\s+(?:above|before\s+this|preceding|from\s+the\s+(?:start|beginning))",
    ),
    (
        "prompt_extraction",
        (("you",), ("beginning", "starting")),
        r"\b(?:beginning|starting)\s+with\s+[\"']?you\s+are\b",
    ),
    # chat-template control tokens and fake conversation headers inside content
    (
        "template_marker",
        (("<|", "[inst]", "[/inst]", "<<sys>>", "<</sys>>", "<system>", "</system>"),),
        r"<\|(?:im_start|im_end|system|user|assistant|endoftext|start_header_id|end_header_id|eot_id)\|>|"
        r"\[/?inst\]|<</?sys>>|</?system>",
    ),
    (
        "template_marker",
        (("#",), ("system", "instruction")),
        r"(?:^|\n)[ \t]*#{1,4}[ \t]*(?:system|instruction)s?[ \t]*(?:prompt|message)?[ \t]*:",
    ),
)

# (category, keyword groups, pattern) only for text from tools and retrieved documents: words
# addressed to the model.
_EMBEDDED_PATTERNS: tuple[tuple[str, _Keywords, str], ...] = (
    (
        "addressed_instruction",
        (("you",), ("must", "shall", "instructed", "required", "ordered", "have")),
        rf"\b{_ADDRESSEE}s?\s*[,:]\s*you\s+(?:must|have\s+to|shall|"
        r"are\s+(?:now\s+)?(?:instructed|required|ordered)\s+to)\b",
    ),
    ("addressed_instruction", (("instruction",),), r"\bnew\s+(?:system\s+)?instructions?\s*:"),
    ("addressed_instruction", (("override",),), r"\b(?:admin|developer|root)\s+override\b"),
    (
        "addressed_instruction",
        (_K_ADDRESSEE, ("note", "message", "instruction", "attention", "important", "notice", "reminder")),
        rf"\b(?:note|message|instructions?|attention|important|notice|reminder)\s+(?:to|for)\s+"
        rf"(?:the\s+|any\s+|all\s+)?{_ADDRESSEE}s?\b",
    ),
    (
        "addressed_instruction",
        (
            ("you",),
            (
                "ai",
                "llm",
                "language",
                "model",
                "assistant",
                "agent",
                "bot",
                "gpt",
                "claude",
                "copilot",
                "gemini",
            ),
        ),
        rf"\bif\s+you\s+are\s+(?:an?\s+)?(?:ai|llm|(?:large\s+)?language\s+model|{_ASSISTANT})\b",
    ),
    (
        "addressed_instruction",
        (("when",), ("reads", "sees", "processes", "summari")),
        rf"\bwhen\s+(?:the\s+|an?\s+)?{_ADDRESSEE}\s+(?:reads|sees|processes|summari[sz]es)\b",
    ),
    (
        "addressed_instruction",
        (("user",), ("tell", "inform", "mention", "notify", "alert", "reveal", "show", "let")),
        r"\b(?:do\s+not|don'?t|never)\s+(?:tell|inform|mention\s+(?:this\s+|it\s+)?to|notify|alert|"
        r"reveal\s+(?:this\s+|it\s+)?to|show\s+(?:this\s+|it\s+)?to|let)\s+the\s+user\b",
    ),
    (
        "addressed_instruction",
        (("without",), ("user",)),
        r"\bwithout\s+(?:telling|informing|notifying|alerting|asking)\s+the\s+user\b",
    ),
    (
        "addressed_instruction",
        (("instead",),),
        r"\binstead\s*,?\s+(?:respond\s+with|reply\s+with|tell\s+the\s+user|say\s+that|answer\s+with)\b",
    ),
    (
        "exfiltration",
        (("send", "forward", "mail", "post", "upload", "exfiltrate", "transmit", "leak"),),
        r"(?<!never )(?<!not )(?<!n't )"
        r"\b(?:send|forward|email|e-mail|post|upload|exfiltrate|transmit|leak)\s+(?:\w+\s+){0,3}?"
        r"(?:conversation|chat\s+history|chat\s+log|user'?s?\s+(?:data|details|information|messages)|"
        r"credentials|passwords?|api\s+keys?|secrets|tokens|personal\s+(?:data|information)|"
        r"system\s+prompt)\b[^.\n]{0,60}?\bto\b",
    ),
)


_Compiled = tuple[tuple[str, _Keywords, re.Pattern[str]], ...]


def _compile(patterns: tuple[tuple[str, _Keywords, str], ...]) -> _Compiled:
    return tuple((category, keywords, re.compile(pattern)) for category, keywords, pattern in patterns)


_COMPILED = _compile(_PATTERNS)
_COMPILED_EMBEDDED = _compile(_EMBEDDED_PATTERNS)


def _zero_width_inside_words(text: str) -> list[Span]:
    # A zero-width or bidi character between two Latin letters splits a word to hide it. Emoji
    # sequences and scripts that need joiners (Persian, Indic) do not put them there.
    return [(match.start(1), match.end(1), "invisible_text") for match in _SPLIT_WORD_RE.finditer(text)]


_TAGS_RE = re.compile("[\U000e0000-\U000e007f]+")
_BIDI_OVERRIDE_RE = re.compile("[" + "".join(sorted(BIDI_OVERRIDES)) + "]+")
_SPLIT_WORD_RE = re.compile(
    "[A-Za-z]([\u00ad\u180e\u200b-\u200f\u2060-\u2064\ufeff\u202a-\u202e\u2066-\u2069]+)(?=[A-Za-z])"
)


def _contains_keyword(text: str, keyword: str) -> bool:
    # Short words ("ai", "dan", "you") must stand alone; inside other words they are too common
    # ("said", "guidance", "your") to filter anything.
    if len(keyword) > 3 or not keyword.isalpha():
        return keyword in text
    position = text.find(keyword)
    while position != -1:
        end = position + len(keyword)
        if (position == 0 or not text[position - 1].isalpha()) and (
            end == len(text) or not text[end].isalpha()
        ):
            return True
        position = text.find(keyword, end)
    return False


class PromptInjectionGuardrail(Guardrail):
    """Detect prompt-injection attempts in user input, tool results and retrieved documents.

    It looks for instruction-override phrasing ("ignore all previous instructions"), new personas
    and modes ("you are now DAN", "developer mode") and role-play escapes ("pretend you have no
    restrictions"). It also flags requests for the system prompt, chat-template markers
    (``<|im_start|>``, ``[INST]``), hidden text in Unicode tag characters, zero-width characters
    inside words, bidi override characters, and words that mix Latin with Cyrillic or Greek
    look-alikes. With ``source="tool"`` or ``"retrieval"`` it also flags instructions addressed to
    the assistant ("note to the AI: ...", "do not tell the user", "send the conversation to ...").

    Args:
        obfuscation: flag invisible and look-alike characters even when no phrase matched.
            Default True.
        max_chars: longer text is not scanned and gives an ``"error"`` result.
    """

    name = "prompt_injection"
    security = True

    def __init__(self, *, obfuscation: bool = True, max_chars: int | None = None) -> None:
        super().__init__(**({} if max_chars is None else {"max_chars": max_chars}))
        self.obfuscation = obfuscation

    def find(self, text: str, source: str = "user") -> list[Span]:
        """Return the spans of injection phrases and hidden text, each with its category."""
        folded = fold(text)
        spans = self._phrases(folded, _COMPILED)
        if source != "user":
            spans.extend(self._phrases(folded, _COMPILED_EMBEDDED))
        if not text.isascii():
            spans.extend(self._hidden(text))
        return sorted(set(spans))

    def check(self, text: object, *, stage: str = "input", source: str = "user") -> GuardrailResult:
        """Check ``text`` for injection; ``source`` is ``"user"``, ``"tool"`` or ``"retrieval"``."""
        if source not in SOURCES:
            return self.error_result(stage, f"invalid source {source!r}; valid sources: {', '.join(SOURCES)}")
        return self.run_guarded(
            stage, text, lambda stage_name, body: self._check_source(stage_name, body, source)
        )

    def _check_source(self, stage: str, text: str, source: str) -> GuardrailResult:
        spans = self.find(text, source)
        if not spans:
            return self.result(stage, True, LABEL_CLEAN, "No prompt-injection patterns found.")
        categories = sorted({kind for _, _, kind in spans})
        where = "" if source == "user" else f" in {source} content"
        return self.result(
            stage,
            False,
            "injection",
            f"Possible prompt injection{where}: {', '.join(categories)}.",
            spans,
        )

    @staticmethod
    def _phrases(folded: FoldedText, patterns: _Compiled) -> list[Span]:
        text = folded.text
        present: dict[str, bool] = {}

        def contains(keyword: str) -> bool:
            found = present.get(keyword)
            if found is None:
                found = present[keyword] = _contains_keyword(text, keyword)
            return found

        spans: list[Span] = []
        for category, keywords, pattern in patterns:
            if not all(any(contains(keyword) for keyword in group) for group in keywords):
                continue
            for match in pattern.finditer(text):
                start, end = folded.original_span(match.start(), match.end())
                spans.append((start, end, category))
        return spans

    def _hidden(self, text: str) -> list[Span]:
        spans: list[Span] = []
        for match in _TAGS_RE.finditer(text):
            # Tag characters render as nothing but carry ASCII text that models read.
            spans.append((match.start(), match.end(), "hidden_text"))
            hidden = hidden_tag_text(match.group())
            if hidden and self._phrases(fold(hidden), _COMPILED + _COMPILED_EMBEDDED):
                spans.append((match.start(), match.end(), "instruction_override"))
        if not self.obfuscation:
            return spans
        spans.extend(
            (match.start(), match.end(), "bidi_override") for match in _BIDI_OVERRIDE_RE.finditer(text)
        )
        spans.extend(_zero_width_inside_words(text))
        spans.extend((start, end, "homoglyph") for start, end in mixed_script_words(text))
        return spans
