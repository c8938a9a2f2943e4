"""Forgetting posts: a person's request (by author or by post) or the retention period.

What a request names is resolved to post ids here and in `core.store.forget`; the pipeline
(`pipeline/forget.py`) removes them everywhere they are copied (the record, the embedding
cache, lead summaries and profiles, the search index) and repairs the leads they were in.
Every request that removes something leaves one `deletion_requests` row (ids and counts, no
text) and a `posts_forgotten` event on each lead it touched."""
from __future__ import annotations

import re
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum

from core.models import hash_author

# platform:native_id, as crawlers make post ids (core.models.Post.id)
POST_ID = re.compile(r"^[a-z0-9_]+:\S+$")
AUTHOR_HASH = re.compile(r"^[0-9a-f]{24}$")
# A lead whose every post was forgotten keeps its row (events, work orders point at it) with
# this title; an open one is closed, since there is nothing left to review.
EMPTIED_TITLE = "[线索帖子已全部删除]"


class ForgetError(ValueError):
    """A request that cannot be honoured as given (empty author id, malformed post id)."""


class ForgetKind(StrEnum):
    AUTHOR = "author"
    POSTS = "posts"
    RETENTION = "retention"


def author_subject(platform: str, *, author_id: str | None = None, author_hash: str | None = None,
                   salt: str) -> tuple[str, str]:
    """(platform, author hash) of a request: the author id is hashed the way crawlers hash it
    (core.models.hash_author with the deployment's salt), or the hash is given directly."""
    platform = (platform or "").strip()
    if not platform:
        raise ForgetError("a platform is required (authors are hashed per deployment, posts kept per platform)")
    if author_hash is not None:
        if not AUTHOR_HASH.fullmatch(author_hash.strip()):
            raise ForgetError(f"author hash {author_hash!r} is not 24 lower-case hex digits")
        return platform, author_hash.strip()
    if author_id is None or not author_id.strip():
        raise ForgetError("the author id is empty")
    return platform, hash_author(author_id.strip(), salt)


def check_post_ids(ids: list[str]) -> list[str]:
    """The ids, each `platform:native_id`, duplicates dropped, in order; a malformed one is an error."""
    if not ids:
        raise ForgetError("no post id given")
    bad = [i for i in ids if not POST_ID.fullmatch(i.strip())]
    if bad:
        raise ForgetError(f"malformed post id(s) {', '.join(map(repr, bad))}: expected platform:native_id")
    return list(dict.fromkeys(i.strip() for i in ids))


def request_id() -> str:
    return "DR" + uuid.uuid4().hex[:16].upper()


@dataclass(frozen=True)
class ForgetRequest:
    """Who asks to forget what, and why. `post_ids` are the posts found for it."""

    kind: ForgetKind
    actor: str
    subject: str | None  # platform:author_hash, the post ids' request has none, retention: the cutoff
    reason: str | None
    at: datetime
    id: str = field(default_factory=request_id)


@dataclass(frozen=True)
class ForgetSummary:
    """What a request did (or, dry, would do). Printed as JSON by `radar forget` and `radar retention`."""

    request: str | None  # the audit row's id; None when nothing was removed or on a dry run
    kind: str
    dry_run: bool
    posts: int  # posts removed (or that would be)
    unknown: tuple[str, ...] = ()  # ids asked for that the store does not hold
    leads_repaired: tuple[str, ...] = ()
    leads_emptied: tuple[str, ...] = ()
    embeddings: int = 0  # cached vectors dropped (no remaining post has their text)
    labels_redacted: int = 0
    events_redacted: int = 0
    orders_redacted: tuple[str, ...] = ()
    search: str = "not run"  # "done: N" | the error, when the index could not be reached
    note: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)
