"""Scrapy settings for a platform crawl: one place for defaults, one function per platform.

Politeness comes from the platform's config: DOWNLOAD_DELAY = 1 / rate_limit,
CONCURRENT_REQUESTS_PER_DOMAIN = concurrency. RETRY_* retries 429 and 5xx.
"""
from __future__ import annotations

from core.config import PlatformConfig

USER_AGENT = ("Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/124.0 Mobile Safari/537.36 CivicRadar/0.1")

BASE: dict = {
    "BOT_NAME": "civic_radar",
    "USER_AGENT": USER_AGENT,
    # robots.txt is a per-site policy decision made when a platform is added to
    # platforms.yaml (public-interest monitoring of public posts, at a polite rate); the
    # simulator serves none. A platform that must honour it can be given a setting later.
    "ROBOTSTXT_OBEY": False,
    "COOKIES_ENABLED": False,  # auth cookies are sent as a header from the environment
    "RETRY_ENABLED": True,
    "RETRY_TIMES": 3,
    "RETRY_HTTP_CODES": [429, 500, 502, 503, 504, 522, 524, 408],
    "DOWNLOAD_TIMEOUT": 30,
    "AUTOTHROTTLE_ENABLED": False,
    "TELNETCONSOLE_ENABLED": False,
    "LOG_LEVEL": "WARNING",
    "ITEM_PIPELINES": {"crawlers.pipelines.StorePipeline": 300},
}


def platform_settings(platform: PlatformConfig, store_url: str) -> dict:
    return {
        **BASE,
        "DOWNLOAD_DELAY": 1.0 / platform.rate_limit,
        "CONCURRENT_REQUESTS_PER_DOMAIN": platform.concurrency,
        "CONCURRENT_REQUESTS": max(16, platform.concurrency),
        "RADAR_STORE_URL": store_url,
    }
