"""A realistic work order for target tests (no store needed)."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

from core.orders import Evidence, OrderStatus, Place, WorkOrder, order_id_for

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)


def sample_order(**overrides) -> WorkOrder:
    evidence = (
        Evidence.of(post_id="weibo:1", platform="weibo", url="https://weibo.com/1/AbC", title=None,
                    text="深南大道华强路口井盖缺失，晚上很危险", published_at="2026-11-20T09:12:00+08:00",
                    likes=30, comments=4, shares=2, views=900,
                    media=("https://wx1.sinaimg.cn/large/a.jpg", "https://wx1.sinaimg.cn/large/b.jpg")),
        Evidence.of(post_id="jiazaishenzhen:9", platform="jiazaishenzhen", url="https://bbs.szhome.com/9.html",
                    title="华强路口井盖没了", text="井盖没了好几天", published_at="2026-11-20T10:40:00+08:00",
                    likes=3, comments=8, shares=0, views=120),
    )
    order = WorkOrder(
        id=order_id_for("L-1"), lead_id="L-1", status=OrderStatus.DISPATCHED, target="city12345",
        title="深南大道华强路口井盖缺失", description="多名市民反映井盖缺失，存在安全隐患。",
        category="市政设施", item="SZ001", item_name="井盖缺失", unit="深圳市福田区城市管理和综合执法局",
        urgent=True, dispatch_minutes=30, resolution_hours=24, due_at=T0 + timedelta(hours=24),
        place=Place(district="福田区", street="华强北街道", community=None, address="深南大道与华强路交叉口",
                    lat=22.5431, lon=114.0856),
        evidence=evidence, created_at=T0, created_by="analyst1", updated_at=T0)
    return replace(order, **overrides)
