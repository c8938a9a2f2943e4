"""A small desk world for the web tests: leads in 南山区 (and one in 福田区) with enriched posts,
one of them hostile, and users of each role."""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from core import sla
from core.models import Enrichment, Lead, LeadEvent, LeadStatus, PriorityParts, utcnow
from tests.conftest import make_post

PASSWORD = "Desk-pass-2026!"
HOSTILE_TEXT = "<script>alert(1)</script><img src=x onerror=alert(1)> 南山区后海大道井盖不见了"
HOSTILE_URL = "javascript:alert(1)"

PLATFORMS = ("weibo", "jiazaishenzhen", "szrss", "douyin")


def lead_id(n: int) -> str:
    return f"L{n:012x}"


@dataclass(frozen=True)
class Spec:
    n: int
    title: str
    district: str
    street: str | None
    category: str
    item: str | None
    priority: float
    posts: tuple[str, ...]
    minutes_ago: int = 30   # when its first post appeared
    urgent: bool = False
    lat: float = 22.52
    lon: float = 113.93


SPECS = (
    Spec(1, "桃园路路面塌陷，电动车摔倒", "南山区", "南头街道", "交通运输", "JT002", 0.92,
         ("桃园路有一段路面塌陷了，电动车经过摔倒", "桃园路塌陷的坑还没人管，太危险了"), 100, lat=22.54, lon=113.92),
    Spec(2, "南头街道夜间广场舞噪声扰民", "南山区", "南头街道", "生态环境", "ST003", 0.81,
         ("南头街道每晚广场舞音响太吵，老人睡不着",), 50),
    Spec(3, "科技园地铁站旁垃圾堆积", "南山区", "粤海街道", "城市管理", "CG001", 0.74,
         ("科技园地铁站A出口旁垃圾堆了好几天，很臭",), 100, lat=22.54, lon=113.95),
    Spec(4, "科技园地铁口垃圾没人清", "南山区", "粤海街道", "城市管理", "CG001", 0.66,
         ("地铁科技园站出口的垃圾没人清理，苍蝇很多",), 40, lat=22.541, lon=113.951),
    Spec(5, "蛇口停水与供水管道爆裂", "南山区", "招商街道", "水务", "SW001", 0.63,
         ("蛇口花园城一带突然停水了", "招商街道这边也停水，物业说不清楚", "工业八路有供水管道爆裂，水漫到马路上"),
         70, lat=22.49, lon=113.91),
    Spec(6, "西丽路口信号灯不亮", "南山区", "西丽街道", "交通运输", "JT001", 0.58,
         ("西丽路口的红绿灯坏了一上午，车都堵住了",), 20),
    Spec(7, "前海路井盖松动", "南山区", "南山街道", "交通运输", "JT003", 0.55,
         ("前海路上一个井盖松动，车一压就响",), 110),
    Spec(8, "后海大道井盖缺失（含可疑内容）", "南山区", "粤海街道", "交通运输", "JT003", 0.52,
         (HOSTILE_TEXT,), 60),
    Spec(9, "福田区华强北停车乱收费", "福田区", "华强北街道", "交通运输", None, 0.99,
         ("华强北停车场乱收费，一小时五十元",), 30, lat=22.545, lon=114.085),
)


def seed(store, config, now: datetime | None = None) -> dict[int, str]:
    """Write the leads of SPECS with their posts and enrichments; returns n -> lead id."""
    now = now or utcnow()
    ids = {}
    for spec in SPECS:
        first = now - timedelta(minutes=spec.minutes_ago)
        members = []
        for i, text in enumerate(spec.posts):
            at = first + timedelta(minutes=3 * i)
            post = make_post(f"{spec.n}{i}", text, platform=PLATFORMS[i % len(PLATFORMS)], at=at,
                             title=None, likes=spec.n * 3 + i)
            if text == HOSTILE_TEXT:
                post = replace(post, url=HOSTILE_URL, author_name="<b>bad</b>")
            store.posts.upsert([post])
            store.posts.save_enrichments([(post, Enrichment(
                post.id, post.text, True, 0.85, spec.category, spec.district, spec.street, urgent=spec.urgent,
                reasons=("problem:damage",), text_hash=f"h{post.id}", item=spec.item, lat=spec.lat + i * 0.003,
                lon=spec.lon + i * 0.003, location_precision="place"))])
            members.append((post.id, 1.0))
        last = first + timedelta(minutes=3 * (len(spec.posts) - 1))
        lead = Lead(id=lead_id(spec.n), status=LeadStatus.NEW, title=spec.title, category=spec.category,
                    district=spec.district, street=spec.street, unit=f"{spec.district}{spec.category}主管部门",
                    urgent=spec.urgent,
                    priority=spec.priority, priority_parts=PriorityParts(volume=spec.priority),
                    post_count=len(spec.posts), platform_count=len({PLATFORMS[i % len(PLATFORMS)]
                                                                    for i in range(len(spec.posts))}),
                    first_seen=first, last_seen=last, item=spec.item, detected_at=first,
                    keywords=(spec.title[:2], spec.title[2:4], spec.street or spec.district))
        lead = replace(lead, sla_due_at=sla.due_at(lead, config.implementation))
        store.leads.create(lead, members, LeadEvent(lead.id, "created", "clusterer", first,
                                                    {"posts": [m for m, _ in members]}))
        ids[spec.n] = lead.id
    return ids


def add_users(store) -> None:
    store.users.add("nan_a", "analyst", password=PASSWORD, display_name="南山分析员甲", districts=("南山区",))
    store.users.add("nan_b", "analyst", password=PASSWORD, display_name="南山分析员乙", districts=("南山区",))
    store.users.add("fu_a", "analyst", password=PASSWORD, display_name="福田分析员", districts=("福田区",))
    store.users.add("boss", "supervisor", password=PASSWORD, display_name="值班主管", districts=("南山区",))


def index(store) -> None:
    """Build the embedded search index from the store, as `radar index rebuild` does."""
    from core.search.embedded import EmbeddedSearch
    from pipeline.commands.index import rebuild_index
    rebuild_index(store, EmbeddedSearch(store))
