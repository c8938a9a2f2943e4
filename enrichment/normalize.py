"""Text normalization: the one canonical form every later step (rules, geo, dedup) reads.

Contract: `normalize(text) -> Normalized(text, language, text_hash, truncated)`; never raises
for any `str` (and tolerates `None`/non-str defensively), and stays cheap enough for tens of
thousands of short posts per second.
"""
from __future__ import annotations

import hashlib
import html
import re
from dataclasses import dataclass

import opencc

MAX_CHARS = 5000
# Raw input is cut before any regex runs so a 1 MB post costs about as much as a 50 kB one;
# markup can shrink text a lot, hence the generous factor over MAX_CHARS.
_RAW_CAP = MAX_CHARS * 10

_T2S = opencc.OpenCC("t2s")


@dataclass(frozen=True)
class Normalized:
    text: str
    language: str  # zh | en | mixed | unknown
    text_hash: str
    truncated: bool = False


# Full-width ASCII -> half-width, except the full-width marks that *are* the Chinese
# punctuation (，！？：；（）): converting those would make Chinese text look broken.
_KEEP_FULLWIDTH = set("，！？：；（）")
_FULLWIDTH = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F) if chr(cp) not in _KEEP_FULLWIDTH}
_FULLWIDTH[0x3000] = 0x20  # ideographic space

_SCRIPT_STYLE = re.compile(r"<(script|style)\b[^>]*>.*?</\1\s*>", re.I | re.S)
_COMMENT = re.compile(r"<!--.*?-->", re.S)
_BLOCK_TAG = re.compile(r"<\s*(br|/p|/div|/li|/h[1-6]|/tr)\b[^>]*>", re.I)
# Only things that look like tags: "价格<500元" must survive.
_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9:-]*(?:\s[^<>]*)?/?>")
# Control chars except \t \n, format chars (zero-width, BOM, bidi), lone surrogates, the
# replacement char left by errors="replace", private use and non-characters.
_INVALID = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u206f"
    "\ufeff\ufff9-\ufffd\ufffe\uffff\ud800-\udfff\ue000-\uf8ff]")
_URL = re.compile(r"(?:https?://|www\.)[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+", re.I)
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
# A mention ends at whitespace or punctuation (how Weibo/Douyin delimit them); the length cap
# limits the damage when a writer forgets the space.
_MENTION = re.compile(r"(?<![A-Za-z0-9_.])@[\w\-·]{1,20}[:：]?")
_HASHTAG_PAIR = re.compile(r"#([^#\n]{1,40})#")
_HASH = re.compile(r"#(?=\w)")
_EMOJI = re.compile(
    "[\U0001F000-\U0001FAFF\U0001FC00-\U0001FFFF\u2600-\u27BF\u2B00-\u2BFF\u2300-\u23FF"
    "\uFE00-\uFE0F\u20E3\U000E0000-\U000E007F\u3030\u303D\u3297\u3299]")
# Weibo-style text emoticons: [哈哈] [允悲] [doge]
_EMOTICON = re.compile(r"\[[A-Za-z\u4e00-\u9fff]{1,6}\]")
_HSPACE = re.compile(r"[ \t\f\v\u00a0\u2000-\u200a\u202f\u205f]+")
_NEWLINES = re.compile(r"\s*\n\s*")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z]")


def _strip_markup(text: str) -> str:
    if "<" in text:
        text = _SCRIPT_STYLE.sub(" ", text)
        text = _COMMENT.sub(" ", text)
        text = _BLOCK_TAG.sub("\n", text)
        text = _TAG.sub(" ", text)
    if "&" in text:
        text = html.unescape(text)
    return text


def detect_language(text: str) -> str:
    """zh | en | mixed | unknown, from the share of CJK characters among letters."""
    cjk = len(_CJK.findall(text))
    latin = len(_LATIN.findall(text))
    if cjk + latin == 0:
        return "unknown"
    share = cjk / (cjk + latin)
    # A Chinese character carries roughly a word; half the letters being CJK is mostly Chinese.
    if share >= 0.5:
        return "zh"
    if share <= 0.1:
        return "en"
    return "mixed"


def normalize(text: str) -> Normalized:
    """Canonical text for a post: simplified, half-width, without markup, links, mentions,
    emoji and control characters, whitespace folded, at most MAX_CHARS characters."""
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    truncated = len(text) > _RAW_CAP
    if truncated:
        text = text[:_RAW_CAP]
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _strip_markup(text)
    text = _INVALID.sub("", text)
    text = text.translate(_FULLWIDTH)
    if not text.isascii():
        try:
            text = _T2S.convert(text)
        except Exception:  # noqa: BLE001 - never fail a post for a conversion hiccup
            pass
    if "/" in text or "www" in text.lower():
        text = _URL.sub(" ", text)
    if "@" in text:
        text = _EMAIL.sub(" ", text)
        text = _MENTION.sub(" ", text)
    if "#" in text:
        text = _HASHTAG_PAIR.sub(r" \1 ", text)
        text = _HASH.sub("", text)
    if not text.isascii():
        text = _EMOJI.sub("", text)
        if "[" in text:
            text = _EMOTICON.sub("", text)
    text = _HSPACE.sub(" ", text)
    if "\n" in text:
        text = _NEWLINES.sub("\n", text)
    text = text.strip()
    if len(text) > MAX_CHARS:
        text = text[:MAX_CHARS].rstrip()
        truncated = True
    return Normalized(text=text, language=detect_language(text),
                      text_hash=hashlib.sha1(text.encode("utf-8", "replace")).hexdigest(),
                      truncated=truncated)
