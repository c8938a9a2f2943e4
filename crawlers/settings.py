"""Scrapy settings for a platform crawl: one place for defaults, one function per platform.

Politeness comes from the platform's config: DOWNLOAD_DELAY = queries / rate_limit (every
query of a platform is its own crawler in one process, so together they keep the platform's
rate), CONCURRENT_REQUESTS_PER_DOMAIN = concurrency, DOWNLOAD_TIMEOUT = timeout_seconds.
Retries are crawlers.middlewares.backoff (exponential backoff + jitter, Retry-After), behind
the per-platform circuit breaker crawlers.middlewares.breaker. Browser-rendered platforms
(kind `browser`) download through scrapy-playwright with Debian's Chromium.
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
    "RETRY_ENABLED": False,  # replaced by BackoffRetryMiddleware
    "RADAR_RETRY_TIMES": 4,
    "RADAR_RETRY_HTTP_CODES": [429, 500, 502, 503, 504, 522, 524, 408],
    "RADAR_BACKOFF_BASE": 1.0,
    "RADAR_BACKOFF_MAX": 60.0,
    "RADAR_BREAKER_THRESHOLD": 5,
    "RADAR_BREAKER_COOLDOWN": 300.0,
    "DOWNLOADER_MIDDLEWARES": {
        "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
        "crawlers.middlewares.breaker.CircuitBreakerMiddleware": 540,
        "crawlers.middlewares.backoff.BackoffRetryMiddleware": 550,
    },
    "DOWNLOAD_TIMEOUT": 30,
    "AUTOTHROTTLE_ENABLED": False,
    "TELNETCONSOLE_ENABLED": False,
    "LOG_LEVEL": "WARNING",
    "ITEM_PIPELINES": {"crawlers.pipelines.StorePipeline": 300},
}


CHROMIUM = "/usr/bin/chromium"  # Debian's package (scripts/system-deps.sh); never a downloaded one
PLAYWRIGHT: dict = {
    "DOWNLOAD_HANDLERS": {
        "http": "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler",
        "https": "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler",
    },
    "PLAYWRIGHT_BROWSER_TYPE": "chromium",
    "PLAYWRIGHT_LAUNCH_OPTIONS": {
        "executable_path": CHROMIUM,
        "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"],
    },
    "PLAYWRIGHT_DEFAULT_NAVIGATION_TIMEOUT": 30_000,
    "PLAYWRIGHT_MAX_PAGES_PER_CONTEXT": 2,
}


def platform_settings(platform: PlatformConfig, store_url: str, n_queries: int = 1) -> dict:
    out = {
        **BASE,
        "DOWNLOAD_DELAY": max(1, n_queries) / platform.rate_limit,
        "CONCURRENT_REQUESTS_PER_DOMAIN": platform.concurrency,
        "CONCURRENT_REQUESTS": max(16, platform.concurrency),
        "DOWNLOAD_TIMEOUT": platform.timeout_seconds,
        "RADAR_STORE_URL": store_url,
    }
    if platform.kind == "browser":
        out.update(PLAYWRIGHT)
    return out
