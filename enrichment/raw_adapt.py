"""Making segmented training text and raw posts look the same to the category classifier.

The labelled file (the 2020 contest's `text_tokens`) is jieba output with a stop-word list and
punctuation removed ("路面 破损 严重"); posts arrive as written ("路面破损严重了，请尽快修！").
The training file was made from raw messages like ours by exactly that recipe, so the honest
adaptation is to replay it on raw text, the same at train and predict time:

`classifier_tokens(raw, stop_words)` (preprocess `raw-adapt/2`, the current one):
1. `enrichment.normalize`, lowercase.
2. Segment with jieba (the segmenter the training file was made with). An already segmented
   text keeps its words (jieba splits at its spaces), so the training file passes unchanged.
3. Drop punctuation and the stop words (`STOP_WORDS`, file `stop_words.txt`). The contest's
   stop-word list is not published; it was derived, not typed: the words jieba finds at least
   20 times in the unlabelled raw messages (teddy2020 with_votes + with_replies) that never
   occur in the tokenized training file (`derive_stop_words`; 556 words: 的 了 我们 没有 可以
   人民 多次 ... and the single digits). A model stores the list it was trained with.
The result is the words joined by spaces; `char_view` is that text de-spaced with punctuation
and `STOP_CHARS` removed (the char n-gram view), `word_view` its words (the word n-gram view).

`classifier_text(raw)` (preprocess `raw-adapt/1`) is the previous adaptation, kept for models
trained with it: de-segment, drop punctuation and the function characters `STOP_CHARS`.

Measured (benchmarks/classifier_raw.py, raw dev set, char 1-3-gram SVM trained on the tokenized
file only): raw-adapt/1 0.908, raw-adapt/2 0.915; on the 1,039 reply-labelled raw messages
(enrichment.reply_labels, not dev) 0.733 -> 0.735.
"""
from __future__ import annotations

import functools
import logging
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from enrichment.normalize import normalize
from enrichment.text import model_text

# Derived by derive_stop_chars(ratio=10, min_count=100) on the contest data; "钞" (an artefact of
# masked text) was left out by hand.
STOP_CHARS = "且么也了什仍他们但又吗呢啊她它或的竟虽都"
_STOP = re.compile(f"[{STOP_CHARS}]")
_PUNCT = re.compile(r"[^\w]|_")
_HAN = re.compile(r"[\u4e00-\u9fff]")
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_SPACE_NEXT_TO_CJK = re.compile(rf"(?<=[{_CJK}]) +| +(?=[{_CJK}])")
VERSION_1 = "raw-adapt/1"
VERSION = "raw-adapt/2"
STOP_WORDS_FILE = Path(__file__).with_name("stop_words.txt")


def classifier_text(raw: str) -> str:
    """raw-adapt/1: the text the classifier's n-grams are taken from; never raises."""
    text = model_text(raw)
    text = _PUNCT.sub("", text)
    return _STOP.sub("", text)


@functools.lru_cache(maxsize=1)
def stop_words() -> frozenset[str]:
    """The derived stop-word list shipped with the code (one word a line)."""
    lines = STOP_WORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(w.strip() for w in lines if w.strip() and not w.startswith("#"))


@functools.lru_cache(maxsize=1)
def _jieba():
    import jieba  # imported on first use: loading its dictionary takes ~1 s
    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba


def _words(text: str) -> list[str]:
    """jieba words of `text`, punctuation and whitespace dropped."""
    return [w for w in (_PUNCT.sub("", t) for t in _jieba().lcut(text)) if w]


def classifier_tokens(raw: str, stop: frozenset[str] | None = None) -> str:
    """raw-adapt/2: the words the classifier reads, joined by single spaces; never raises."""
    stop = stop_words() if stop is None else stop
    # Normalized but not de-spaced: an already segmented text keeps its words (jieba splits at
    # spaces), a raw one is segmented as the training file's messages were.
    return " ".join(w for w in _words(normalize(raw).text.lower()) if w not in stop)


def char_view(tokens: str) -> str:
    """The char n-gram view of `classifier_tokens` output: de-spaced next to Chinese characters
    (so "a1 区" and "a1区" agree), function characters dropped."""
    return _STOP.sub("", _SPACE_NEXT_TO_CJK.sub("", tokens))


def word_view(tokens: str) -> list[str]:
    """The word n-gram view of `classifier_tokens` output."""
    return tokens.split()


def derive_stop_words(tokenized: Iterable[str], raw: Iterable[str], min_count: int = 20) -> list[str]:
    """Words jieba finds at least `min_count` times in the raw messages and never in the
    stop-word-filtered training text: the words its stop-word list removed."""
    train, real = set(), Counter()
    # The training text as written: normalizing it would turn the few traditional-script
    # messages the contest's (simplified) stop-word list missed into simplified stop words.
    for t in tokenized:
        train.update(t.lower().split())
    for t in raw:
        real.update(_words(model_text(t)))
    return sorted(w for w, n in real.items() if n >= min_count and w not in train)


def derive_stop_chars(tokenized: Iterable[str], raw: Iterable[str], ratio: float = 10.0,
                      min_count: int = 100) -> str:
    """Han characters far more frequent in raw text than in the stop-word-filtered training
    text (relative frequency ratio >= `ratio`, at least `min_count` times in raw)."""
    train, real = Counter(), Counter()
    for t in tokenized:
        train.update(model_text(t))
    for t in raw:
        real.update(model_text(t))
    nt, nr = max(1, sum(train.values())), max(1, sum(real.values()))
    chars = [c for c, n in real.items()
             if n >= min_count and _HAN.match(c) and (n / nr) / ((train[c] + 1) / nt) >= ratio]
    return "".join(sorted(chars))
