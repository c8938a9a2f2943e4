"""A store with two leads for the deletion tests: a pothole reported by the person who asks to
be forgotten and by two others, and a noise problem only that person reported; an order filed
on the pothole lead, a training label on the noise lead, embeddings cached for every text."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import timedelta

from clustering.stage import cluster
from core.models import Enrichment, EnrichedPost, TriageLabel, Window, hash_author
from core.orders import build_order, order_id_for
import numpy as np

from tests.conftest import T0, make_post

SALT = "test-salt"
VICTIM = "victim-123"
WINDOW = Window(T0 - timedelta(days=30), T0 + timedelta(days=2))
POTHOLE = ["南山区粤海街道深南大道辅道有个大坑，电动车摔了好几次，希望尽快修",
           "深南大道辅道粤海街道这段路面一个大坑，昨晚又有电动车摔倒",
           "粤海街道深南大道辅道的大坑还没修，电动车经过很危险"]
NOISE = ["南山区桃源村工地半夜施工噪音扰民，吵得睡不着",
         "南山区桃源村工地半夜还在施工，噪音扰民吵得睡不着"]
ELSEWHERE = "福田区华强北有个路灯坏了好几天一直不亮"  # the victim's post on another platform


class CharEmbedder:
    """Deterministic stand-in for the model: normalized character counts hashed into 64 slots,
    close enough to meaning for texts that share most of their words."""

    name = "chars-test"
    dim = 64

    def encode(self, texts):
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            for ch in t:
                out[i, ord(ch) % self.dim] += 1
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


@dataclass(frozen=True)
class Seeded:
    victim_posts: list[str]   # weibo posts of the victim
    other_posts: list[str]    # everyone else's (and the victim's post on szrss)
    pothole_lead: str
    noise_lead: str
    order_id: str
    evidence_hash: str


def add(store, native_id, text, *, author=None, hours=0, category="交通运输", platform="weibo", at=None,
        district="南山区"):
    post = make_post(native_id, text, at=at or T0 + timedelta(hours=hours), platform=platform)
    if author:
        post = replace(post, author_hash=hash_author(author, SALT), author_name="受害人")
    store.posts.upsert([post])
    enrichment = Enrichment(post.id, text, True, 0.9, category, district, "粤海街道",
                            text_hash=hashlib.sha1(text.encode()).hexdigest())
    store.posts.save_enrichments([(post, enrichment)])
    return post.id


def seed(store, config) -> Seeded:
    victim = [add(store, "p0", POTHOLE[0], author=VICTIM, hours=0)]
    others = [add(store, "p1", POTHOLE[1], hours=5), add(store, "p2", POTHOLE[2], hours=9, platform="szrss")]
    victim += [add(store, f"n{i}", t, author=VICTIM, hours=i, category="生态环境") for i, t in enumerate(NOISE)]
    others.append(add(store, "v9", ELSEWHERE, author=VICTIM, platform="szrss", category="城市管理", hours=1,
                      district="福田区"))
    cluster(store, config, WINDOW, embedder=CharEmbedder())
    leads = store.leads.of_posts(victim)
    pothole, noise = leads["weibo:p0"], leads["weibo:n0"]
    assert leads["weibo:n1"] == noise and pothole != noise
    lead = store.leads.get(pothole)
    order = build_order(order_id_for(pothole), lead, store.leads.posts(pothole), target="city12345",
                        actor="ana", now=T0)
    store.orders.create(order, T0)
    store.triage.add_labels([TriageLabel(noise, "verify", "\n".join([store.leads.get(noise).title, *NOISE]),
                                         {}, {}, "ana", T0)])
    return Seeded(victim, others, pothole, noise, order.id, order.evidence_hash)


def enriched(store, ids) -> list[EnrichedPost]:
    return store.posts.enriched(ids)
