"""Making segmented training text and raw posts look the same to the category classifier.

The labelled file (the 2020 contest's `text_tokens`) is jieba output with stop-words and
punctuation removed ("路面 破损 严重"); posts arrive as written ("路面破损严重了，请尽快修！").
`classifier_text` is applied identically at train and predict time:

1. `enrichment.text.model_text`: normalize, drop the spaces next to Chinese characters
   (de-segmentation: char n-grams then see the same strings in both).
2. Drop punctuation and symbols (the tokenized text has none at all).
3. Drop a short list of function characters (`STOP_CHARS`) that the stop-word list removed from
   the training text but raw text is full of. The list was derived, not typed: chars seen at
   least 100 times in the unlabelled raw messages (teddy2020 with_votes + with_replies) whose
   relative frequency there is >= 10 times that in the tokenized file; `derive_stop_chars`
   re-derives it (benchmarks/classifier_raw.py prints the current derivation).

Measured (benchmarks/classifier_raw.py, raw dev set): these steps are about neutral on accuracy
(0.908 -> 0.908) and +0.001 macro-F1; kept because they are the honest same-at-both-ends form.
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

from enrichment.text import model_text

# Derived by derive_stop_chars(ratio=10, min_count=100) on the contest data; "钞" (an artefact of
# masked text) was left out by hand.
STOP_CHARS = "且么也了什仍他们但又吗呢啊她它或的竟虽都"
_STOP = re.compile(f"[{STOP_CHARS}]")
_PUNCT = re.compile(r"[^\w]|_")
_HAN = re.compile(r"[\u4e00-\u9fff]")
VERSION = "raw-adapt/1"


def classifier_text(raw: str) -> str:
    """The text the classifier's n-grams are taken from; never raises."""
    text = model_text(raw)
    text = _PUNCT.sub("", text)
    return _STOP.sub("", text)


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
