"""StorePipeline: upserts a PageItem's posts, then saves its checkpoint.

Settings: RADAR_STORE_URL (the `core.store.Store` URL). Stats it keeps: radar/pages,
radar/posts_new, radar/posts_updated, radar/posts_unchanged.
"""
from __future__ import annotations

from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured

from core.store import Store

from crawlers.items import PageItem


class StorePipeline:
    def __init__(self, crawler: Crawler, url: str):
        self.crawler = crawler
        self.url = url
        self.store: Store | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> "StorePipeline":
        url = crawler.settings.get("RADAR_STORE_URL")
        if not url:
            raise NotConfigured("RADAR_STORE_URL is not set")
        return cls(crawler, url)

    def open_spider(self) -> None:
        # crawlers.run migrates once before any spider starts.
        self.store = Store.open(self.url, migrate=False)

    def close_spider(self) -> None:
        if self.store is not None:
            self.store.close()

    def process_item(self, item):
        if not isinstance(item, PageItem):
            return item
        stats = self.crawler.stats
        if item.posts:
            result = self.store.posts.upsert(item.posts)
            stats.inc_value("radar/posts_new", result.new)
            stats.inc_value("radar/posts_updated", result.updated)
            stats.inc_value("radar/posts_unchanged", result.unchanged)
        # Only now may the cursor move past this page: its posts are committed.
        self.store.crawl.save_checkpoint(item.checkpoint)
        if item.parsed:
            stats.inc_value("radar/pages")
        return item
