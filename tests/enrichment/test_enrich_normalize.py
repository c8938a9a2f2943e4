"""enrichment.normalize: canonical text, language, hash, truncation; never raises."""
from __future__ import annotations

import hashlib

import pytest

from enrichment.normalize import MAX_CHARS, normalize


@pytest.mark.parametrize("raw, expected", [
    ("這條馬路壞了，請有關部門處理", "这条马路坏了，请有关部门处理"),
    ("ＡＢＣ１２３　路灯", "ABC123 路灯"),
    ("<p>路灯<b>不亮</b>&amp;没人管</p><script>alert(1)</script>", "路灯 不亮 &没人管"),
    ("看这里 https://t.cn/A6xYz?x=1 路面塌陷", "看这里 路面塌陷"),
    ("@深圳交警 @张三：这里乱停车", "这里乱停车"),
    ("#深圳# 路灯坏了 #南山区", "深圳 路灯坏了 南山区"),
    ("垃圾堆成山了😡😡👍🏻[怒]", "垃圾堆成山了"),
    ("价格<500元", "价格<500元"),
    ("  多个   空格\t\t和\n\n\n换行  ", "多个 空格 和\n换行"),
])
def test_normalize_cases(raw, expected):
    assert normalize(raw).text == expected


def test_chinese_punctuation_is_kept():
    assert normalize("好吗？不行！（急）").text == "好吗？不行！（急）"


def test_control_chars_binary_and_replacement_chars_removed():
    raw = "路\x00灯\x07坏\ufeff了\u200b\ud800" + bytes(range(256)).decode("latin-1")
    out = normalize(raw).text
    assert out.startswith("路灯坏了")
    assert not any(ord(c) < 32 and c not in "\n\t" for c in out)


def test_invalid_utf8_decoded_with_replace():
    raw = b"\xff\xfe\xe8\xb7\xaf\xe7\x81\xaf\xc3\x28\xe5\x9d\x8f".decode("utf-8", errors="replace")
    n = normalize(raw)
    assert "\ufffd" not in n.text
    assert n.text.startswith("路灯")


def test_one_megabyte_is_truncated():
    # Speed is measured by benchmarks.enrichment_quality, not asserted here.
    n = normalize("路灯坏了" * 250_000)
    assert n.truncated and len(n.text) == MAX_CHARS


def test_short_text_is_not_truncated_and_hash_is_sha1_of_text():
    n = normalize("路灯坏了")
    assert not n.truncated
    assert n.text_hash == hashlib.sha1("路灯坏了".encode()).hexdigest()
    assert normalize("路燈壞了").text_hash == n.text_hash  # same problem, same hash


@pytest.mark.parametrize("raw, lang", [
    ("南山区路面有坑", "zh"),
    ("The streetlight on Shennan Road is broken", "en"),
    ("今天在Shenzhen Bay Park跑步", "mixed"),
    ("", "unknown"),
    ("12345 !!!", "unknown"),
])
def test_language(raw, lang):
    assert normalize(raw).language == lang


@pytest.mark.parametrize("raw", ["", " ", "\x00", "<", "&#0;", "@", "#", "##", "[", "http://",
                                 "\ud83d", "\U0010ffff" * 10, "<" * 10_000, "&" * 10_000])
def test_never_raises(raw):
    n = normalize(raw)
    assert isinstance(n.text, str)


def test_non_str_is_tolerated():
    assert normalize(None).text == ""  # type: ignore[arg-type]
