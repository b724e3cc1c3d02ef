"""Small, pure text helpers shared by the offline agents (no models, no I/O)."""

from __future__ import annotations

import re
from functools import lru_cache

# Acronyms written with dots ("W.A.L.T", "U.S.") become one token ("WALT"), so that word
# tokenisers that drop one-letter tokens still see them.
_DOTTED_ACRONYM = re.compile(r"\b(?:[A-Za-z]\.){2,}[A-Za-z]?\.?(?=\W|$)")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9\-\.]*[A-Za-z0-9]|[A-Za-z0-9]+")

STOPWORDS = frozenset(
    """a about above across after again against all also am an and any are as at be because been before
    being below between both but by can could did do does doing down during each either few for from further
    had has have having he her here hers him his how however i if in into is it its itself just less like
    may me might more most much must my no nor not of off on once one only or other our ours out over own
    per same she should so some such than that the their theirs them then there these they this those
    through thus to too under until up upon us very via was we were what when where whether which while who
    whom whose why will with within without would you your yours
    affect affects affecting influence influences influencing impact impacts compare compares compared
    best better good main key new relate relates relation role roles work works explain explains known current currently use used uses
    using effect effects change changes changing make makes made way ways tell give given
    """.split()
)

QUESTION_WORDS = frozenset("how what why which who whom whose when where does do is are can could should".split())


def normalize(text: str) -> str:
    """Lower-case text with dotted acronyms folded ("W.A.L.T" -> "walt")."""
    return _DOTTED_ACRONYM.sub(lambda m: m.group(0).replace(".", ""), text).lower()


def tokens(text: str) -> list[str]:
    """Word tokens of normalised text (hyphenated and versioned names kept whole)."""
    return [t.strip(".-") for t in _WORD.findall(normalize(text)) if t.strip(".-")]


def content_tokens(text: str) -> list[str]:
    return [t for t in tokens(text) if t not in STOPWORDS and len(t) > 1]


def split_sentences(text: str) -> list[str]:
    """Split prose into sentences; keeps decimals and dotted acronyms intact."""
    text = re.sub(r"\s+", " ", text or "").strip()
    if not text:
        return []
    parts = _SENTENCE_END.split(text)
    out: list[str] = []
    for part in parts:
        part = part.strip()
        # a split after an acronym like "W.A.L.T." followed by a capital is wrong when the
        # fragment is tiny; glue such fragments back
        if out and len(part.split()) < 3:
            out[-1] = f"{out[-1]} {part}"
        else:
            out.append(part)
    return out


def key_phrases(text: str) -> list[str]:
    """Content-word runs of the text, split at stop words and punctuation, in order of appearance.

    "How does the causal encoder in W.A.L.T affect FVD?" -> ["causal encoder", "W.A.L.T", "FVD"]
    """
    phrases: list[str] = []
    current: list[str] = []
    for raw in re.findall(r"[A-Za-z0-9][A-Za-z0-9\-\.]*[A-Za-z0-9]|[A-Za-z0-9]+|[,;:?!()]", text):
        word = raw.rstrip(".")
        low = normalize(word)
        if low in STOPWORDS or low in QUESTION_WORDS or not word[0].isalnum():
            if current:
                phrases.append(" ".join(current))
                current = []
            continue
        current.append(word)
    if current:
        phrases.append(" ".join(current))
    seen: set[str] = set()
    unique = []
    for p in phrases:
        k = normalize(p)
        if k not in seen and len(k) > 1:
            seen.add(k)
            unique.append(p)
    return unique


def entities(text: str) -> list[str]:
    """Names that must be matched literally: acronyms, CamelCase, names with digits ("Wan2.1", "FVD")."""
    out = []
    for raw in re.findall(r"[A-Za-z0-9][A-Za-z0-9\-\.]*[A-Za-z0-9]|[A-Za-z0-9]+", text):
        word = raw.rstrip(".")
        letters = [c for c in word if c.isalpha()]
        if not letters:
            continue
        upper = sum(c.isupper() for c in letters)
        is_acronym = upper >= 2 and upper >= len(letters) / 2
        has_digit = any(c.isdigit() for c in word) and any(c.isalpha() for c in word)
        camel = upper >= 2 and word[0].isupper() and not word.isupper()
        if (is_acronym or has_digit or camel) and normalize(word) not in STOPWORDS:
            if word not in out:
                out.append(word)
    return out


@lru_cache(maxsize=4096)
def _entity_pattern(entity: str) -> re.Pattern[str]:
    return re.compile(r"(?<![a-z0-9])" + re.escape(normalize(entity)) + r"(?![a-z0-9])")


def mentions(text: str, entity: str) -> bool:
    """Whether normalised ``text`` contains ``entity`` (or its singular) as a whole word."""
    norm = normalize(text)
    if _entity_pattern(entity).search(norm):
        return True
    return len(entity) > 3 and entity.endswith("s") and bool(_entity_pattern(entity[:-1]).search(norm))


def shorten(text: str, limit: int = 160) -> str:
    text = re.sub(r"\s+", " ", text or "").strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


NUMBER = re.compile(r"(?<![A-Za-z0-9.\-])\d+(?:\.\d+)?")


def numbers(text: str) -> set[str]:
    return set(NUMBER.findall(text or ""))


def paper_names(title: str, abstract: str = "") -> set[str]:
    """Names a paper goes by, normalised: the title's prefix before a colon ("LoRA: Low-Rank ..."
    -> "lora"), and a name that opens the abstract ("W.A.L.T is ..." -> "walt")."""
    names: set[str] = set()
    if ":" in title:
        head = title.split(":", 1)[0].strip()
        if 0 < len(head.split()) <= 4:
            names.add(normalize(head))
    first = (abstract or "").split(" ", 1)[0].rstrip(",.;:")
    if first and entities(first):
        names.add(normalize(first))
    opening = split_sentences(abstract or "")[:1]
    for acronym in re.findall(r"\(([A-Za-z][A-Za-z0-9\-\.]*)\)", opening[0] if opening else ""):
        if entities(acronym):
            names.add(normalize(acronym))
    return names


def names_question(question: str, names: set[str]) -> bool:
    """Whether the question names the paper (one of its names is one of the question's entities)."""
    return any(normalize(e) in names for e in entities(question))
