"""Take forgotten posts' text out of copies kept elsewhere (audit details, training labels,
work-order descriptions) while keeping the record itself.

Copies are rarely the whole text: a lead title is its first 60 characters with "…", a label
joins the title and several posts, an order description quotes 200 characters. So a string is
redacted when it holds a forgotten text, or when it is a long enough piece of one."""
from __future__ import annotations

from collections.abc import Iterable

REDACTED = "[已删除]"
MIN_PIECE = 8  # shorter strings (a district, a status) are too common to be taken for a copy


class Redactor:
    """Redacts the given texts (titles, bodies, normalized texts of forgotten posts)."""

    def __init__(self, texts: Iterable[str | None]):
        self.texts = sorted({t.strip() for t in texts if t and len(t.strip()) >= MIN_PIECE}, key=len, reverse=True)

    def __bool__(self) -> bool:
        return bool(self.texts)

    def text(self, value: str) -> str:
        """`value` with every forgotten text in it, and every line that is a piece of one, replaced."""
        out = value
        for t in self.texts:
            if t in out:
                out = out.replace(t, REDACTED)
        lines = out.split("\n")
        return "\n".join(REDACTED if self._piece(line) else line for line in lines)

    def _piece(self, line: str) -> bool:
        # "- 某某小区…" quoted in a description, a title cut at 60 characters with "…"
        core = line.strip().removeprefix("- ").rstrip("…").strip()
        return len(core) >= MIN_PIECE and core != REDACTED and any(core in t for t in self.texts)

    def json(self, value):
        """A JSON value with every string in it redacted (ids are too short or unlike any text)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.json(v) for v in value]
        if isinstance(value, dict):
            return {k: self.json(v) for k, v in value.items()}
        return value
