"""The text a statistical model reads: normalized, with the spaces between Chinese characters
removed.

Why: labelled data often arrives word-segmented (the 2020 contest's `text_tokens` column is
jieba output, "路面 破损 严重") while posts arrive raw ("路面破损严重"). Char n-grams over
the de-spaced form are the same for both, so one model serves both without a segmenter. Spaces
between two Latin words or numbers stay ("wifi router"); next to a Chinese character they go.
"""
from __future__ import annotations

import re

from enrichment.normalize import normalize

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef"
_SPACE_BETWEEN_CJK = re.compile(rf"(?<=[{_CJK}])\s+(?=[{_CJK}])")
_SPACE_NEXT_TO_CJK = re.compile(rf"(?<=[{_CJK}])\s+(?=\S)|(?<=\S)\s+(?=[{_CJK}])")


def model_text(raw: str) -> str:
    """Normalize and de-space (see module docstring); never raises."""
    text = normalize(raw).text
    if " " in text or "\n" in text:
        text = _SPACE_BETWEEN_CJK.sub("", text)
        # "A1 区" (segmented) and "A1区" (raw) must give the same n-grams too.
        text = _SPACE_NEXT_TO_CJK.sub("", text)
    return text.lower()
