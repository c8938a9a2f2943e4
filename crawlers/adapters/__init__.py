"""Platform format adapters, chosen by `PlatformConfig.adapter` through `get_adapter(name)`.

A platform is data (config/platforms.yaml); a module here exists only where a format needs
code. Contract: crawlers.adapters.base.Adapter (and DetailAdapter for list+detail formats).
"""
from __future__ import annotations

from crawlers.adapters.base import (Adapter, DetailAdapter, Listed, ParseContext, ParsedPage,
                                    ParseError, item_key)
from crawlers.adapters.discuz import DiscuzAdapter
from crawlers.adapters.html_page import HtmlPageAdapter
from crawlers.adapters.json_api import JsonApiAdapter
from crawlers.adapters.rss import RssAdapter
from crawlers.adapters.weibo import WeiboAdapter

ADAPTERS: dict[str, Adapter] = {
    "weibo": WeiboAdapter(),
    "discuz": DiscuzAdapter(),
    "rss": RssAdapter(),
    "json_api": JsonApiAdapter(),    # generic: mapping in platforms.yaml
    "html_page": HtmlPageAdapter(),  # generic: CSS mapping in platforms.yaml
}


class UnknownAdapter(LookupError):
    """platforms.yaml names an adapter that does not exist."""


def get_adapter(name: str) -> Adapter:
    try:
        return ADAPTERS[name]
    except KeyError:
        raise UnknownAdapter(
            f"no adapter named {name!r} (known: {', '.join(sorted(ADAPTERS))}); "
            f"check 'adapter' in config/platforms.yaml") from None


__all__ = ["ADAPTERS", "Adapter", "DetailAdapter", "Listed", "ParseContext", "ParsedPage",
           "ParseError", "UnknownAdapter", "get_adapter", "item_key"]
