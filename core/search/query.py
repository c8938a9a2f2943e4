"""What a query's text means, for every backend alike.

Words are runs of letters and digits (Chinese characters are letters); everything else
separates them, so FTS5 or Lucene syntax in user text (`" * OR NEAR( ' ;`) is never syntax.
A span in double quotes is one exact phrase; every word and phrase must match (AND).
Operators typed as words (OR, NEAR) are just words to look for.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass

WORD = re.compile(r"\w+")  # \w is Unicode-aware: 噪音 and noise2 are both one word
QUOTED = re.compile(r'"([^"]*)"')


@dataclass(frozen=True)
class Terms:
    """Parsed query text: phrases from quotes, loose words from the rest."""

    phrases: tuple[str, ...] = ()
    words: tuple[str, ...] = ()

    @property
    def all(self) -> tuple[str, ...]:
        return self.phrases + self.words

    def __bool__(self) -> bool:
        return bool(self.phrases or self.words)


def _cjk(ch: str) -> bool:
    return "\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff"


def _join(words: list[str]) -> str:
    """A phrase's words as they would stand in text: Chinese writes no spaces between words,
    so "噪音 扰民" in quotes is the phrase 噪音扰民; Latin words keep one space."""
    out = words[0]
    for w in words[1:]:
        out += w if _cjk(out[-1]) and _cjk(w[0]) else " " + w
    return out


# Full-width letters and digits (Ａ出口, ３号楼) as their ASCII forms, one character for one, so
# positions in the folded text are positions in the original. Punctuation is left as written.
WIDTH = {c: c - 0xFEE0 for r in ((0xFF10, 0xFF19), (0xFF21, 0xFF3A), (0xFF41, 0xFF5A)) for c in range(r[0], r[1] + 1)}


def fold(text: str) -> str:
    """What the embedded index stores and matches: full-width letters and digits folded, as
    Elasticsearch's cjk_width does (case is folded by the trigram tokenizer and at highlight)."""
    return text.translate(WIDTH)


def parse_terms(text: str | None) -> Terms:
    """Quoted spans become phrases (their words joined by one space), the rest loose words.
    An unbalanced quote is dropped like any other punctuation."""
    if not text:
        return Terms()
    text = fold(text)
    phrases: list[str] = []
    for inner in QUOTED.findall(text):
        words = WORD.findall(inner)
        if words:
            phrases.append(_join(words))
    rest = QUOTED.sub(" ", text)
    words = [w for w in WORD.findall(rest) if w not in phrases]
    return Terms(tuple(dict.fromkeys(phrases)), tuple(dict.fromkeys(words)))


def highlight(text: str, terms: Terms, *, fragment: int = 40, limit: int = 3) -> tuple[str, ...]:
    """Fragments of `text` around the terms, each match as <em>..</em> and the rest
    HTML-escaped (as Elasticsearch's `encoder: html` does), so the desk can show them as is."""
    if not text or not terms:
        return ()
    lower = text.casefold()
    spans: list[tuple[int, int]] = []
    for term in terms.all:
        needle, start = term.casefold(), 0
        while needle and (i := lower.find(needle, start)) >= 0:
            spans.append((i, i + len(needle)))
            start = i + len(needle)
    if not spans:
        return ()
    merged: list[list[int]] = []
    for a, b in sorted(spans):
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    # Group matches into fragments of about `fragment` characters either side.
    groups: list[list[list[int]]] = []
    for span in merged:
        if groups and span[0] - groups[-1][-1][1] <= fragment:
            groups[-1].append(span)
        else:
            groups.append([span])
    out = []
    for group in groups[:limit]:
        lo, hi = max(0, group[0][0] - fragment // 2), min(len(text), group[-1][1] + fragment // 2)
        parts, pos = [], lo
        for a, b in group:
            parts.append(html.escape(text[pos:a]) + "<em>" + html.escape(text[a:b]) + "</em>")
            pos = b
        parts.append(html.escape(text[pos:hi]))
        out.append("".join(parts))
    return tuple(out)
