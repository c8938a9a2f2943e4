"""The cluster stage: fold new relevant posts into leads, creating, growing and merging them.

Incremental: only posts not yet in a lead are placed; existing leads are loaded as anchors,
so a lead keeps its id and its posts across runs. A merge keeps the older lead's id and is
recorded on both leads; nothing is renumbered.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from clustering.grouping import Node, group
from clustering.keywords import ctfidf_keywords
from clustering.leads import build_lead, lead_id_for
from core.config import Config
from core.models import Lead, LeadEvent, LeadStatus, Window, utcnow
from core.store import Store

ACTOR = "clusterer"


def cluster(store: Store, config: Config, window: Window, *, relevant_only: bool = True) -> dict[str, int]:
    """Place the window's unassigned posts; `relevant_only=False` clusters every enriched post
    (offline analysis of a file whose rows are all complaints)."""
    cfg = config.radar.clustering
    weights = config.radar.priority
    new_posts = store.unassigned_relevant(window, relevant_only)
    counts = {"new_posts": len(new_posts), "leads_created": 0, "leads_updated": 0,
              "leads_merged": 0, "leads_reopened": 0, "leads_closed": 0, "posts_assigned": 0}
    if not new_posts:
        counts["leads_closed"] = close_quiet_leads(store, config, window)
        return counts
    since = window.start - timedelta(days=cfg.time_window_days)
    candidates = {lead.id: lead for lead in
                  store.leads_seen_since(since, [LeadStatus.NEW, LeadStatus.VERIFIED])}
    # Closed leads stay reachable for longer: a problem that comes back reopens its lead.
    candidates.update({lead.id: lead for lead in store.leads_seen_since(
        window.start - timedelta(days=cfg.reopen_days), [LeadStatus.CLOSED])})
    member_ids = store.lead_member_ids(list(candidates))
    by_id = {ep.id: ep for ep in store.enriched_posts([p for ids in member_ids.values() for p in ids])}
    nodes = [Node(by_id[pid], lead_id, candidates[lead_id].status == LeadStatus.CLOSED)
             for lead_id, ids in member_ids.items() for pid in ids if pid in by_id]
    nodes += [Node(ep, None) for ep in new_posts]

    created: list = []
    updates: list = []
    touched: set[str] = set()
    groups = group(nodes, cfg)
    keywords = ctfidf_keywords({g.members[0]: [nodes[i].post.enrichment.normalized_text for i in g.members]
                                for g in groups if len(g.members) >= cfg.min_lead_posts})
    for g in groups:
        fresh = [i for i in g.members if nodes[i].lead_id is None]
        if not fresh:
            continue
        members = sorted((nodes[i].post for i in g.members), key=lambda ep: (ep.post.published_at, ep.id))
        similarity = {nodes[i].post.id: g.similarity[i] for i in g.members}
        attach = [(nodes[i].post.id, g.similarity[i]) for i in fresh]
        now = utcnow()
        if not g.lead_ids:
            if len(members) < cfg.min_lead_posts:
                continue  # stays unassigned; a later post may join it
            lead = build_lead(lead_id_for(members[0].id), members, window.end, weights,
                              keywords=keywords.get(g.members[0], ()))
            created.append((lead, [(ep.id, similarity[ep.id]) for ep in members],
                            LeadEvent(lead.id, "created", ACTOR, now,
                                      {"posts": [ep.id for ep in members], "window_end": window.end.isoformat()})))
            counts["leads_created"] += 1
            counts["posts_assigned"] += len(members)
            continue
        survivor_id, absorbed = g.lead_ids[0], g.lead_ids[1:]
        for other_id in absorbed:
            other = candidates[other_id]
            moved = [(nodes[i].post.id, g.similarity[i]) for i in g.members if nodes[i].lead_id == other_id]
            attach += moved
            updates.append((replace(other, status=LeadStatus.MERGED, merged_into=survivor_id), other.version,
                            LeadEvent(other_id, "merged", ACTOR, now, {"into": survivor_id,
                                                                       "posts": [p for p, _ in moved]}), ()))
            counts["leads_merged"] += 1
        previous: Lead = candidates[survivor_id]
        lead = build_lead(survivor_id, members, window.end, weights, previous,
                          reopened=previous.status == LeadStatus.CLOSED, keywords=keywords.get(g.members[0], ()))
        detail = {"posts": [nodes[i].post.id for i in fresh]}
        if absorbed:
            detail["merged_from"] = list(absorbed)
        kind = "posts_added"
        if previous.status == LeadStatus.CLOSED:
            lead = replace(lead, status=LeadStatus.NEW)
            kind = "reopened"
            counts["leads_reopened"] += 1
        updates.append((lead, previous.version, LeadEvent(survivor_id, kind, ACTOR, now, detail), attach))
        touched.add(survivor_id)
        counts["leads_updated"] += 1
        counts["posts_assigned"] += len(fresh)
    # Merged leads are written before their survivors take their posts, all in one transaction.
    store.update_leads(updates)
    store.create_leads(created)
    counts["leads_closed"] = close_quiet_leads(store, config, window, skip=touched)
    return counts


def close_quiet_leads(store: Store, config: Config, window: Window, skip: set[str] = frozenset()) -> int:
    """Close open leads with no post for `quiet_days_to_close` before the window end."""
    cfg = config.radar.clustering
    quiet_since = window.end - timedelta(days=cfg.quiet_days_to_close)
    closing = []
    for lead in store.leads_seen_since(window.end - timedelta(days=cfg.reopen_days + cfg.quiet_days_to_close),
                                       [LeadStatus.NEW, LeadStatus.VERIFIED]):
        if lead.id in skip or lead.last_seen >= quiet_since:
            continue
        closing.append((replace(lead, status=LeadStatus.CLOSED), lead.version,
                        LeadEvent(lead.id, "closed", ACTOR, utcnow(),
                                  {"quiet_days": cfg.quiet_days_to_close, "last_seen": lead.last_seen.isoformat()}), ()))
    store.update_leads(closing)
    return len(closing)
