"""What the spider hands the pipeline: one page's posts and the checkpoint to save after them.

Contract: crawlers.pipelines.StorePipeline stores `posts` first, then `checkpoint`, so a crawl's
cursor never points past posts that are not stored.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from core.models import Checkpoint, Post


@dataclass
class PageItem:
    url: str
    checkpoint: Checkpoint
    posts: list[Post] = field(default_factory=list)
    parsed: bool = True  # False for a page skipped as malformed: only its checkpoint is saved
