"""Downloader middlewares, one module per concern (Scrapy style): backoff.py retries with
exponential backoff and jitter honouring Retry-After; breaker.py is the per-platform circuit
breaker. Both are registered in crawlers.settings.BASE."""
