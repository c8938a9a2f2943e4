"""The cluster stage: fold new relevant posts into leads, creating, growing and merging them.

Incremental: only posts not yet in a lead are placed; existing leads are loaded as anchors
(one stored centroid each, `lead_profiles`), so a lead keeps its id and its posts across runs
and a run costs what its new posts and the leads they touch cost, not the whole history. A merge keeps the older lead's id and is
recorded on both leads; nothing is renumbered.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta

import numpy as np
from scipy import sparse

from clustering import lexical
from clustering.grouping import Anchor, group
from clustering.keywords import ctfidf_keywords
from clustering.leads import REPRESENTATIVE_SAMPLE, build_lead, lead_id_for, main_point, tally_of
from core.config import Config
from core.models import (EnrichedPost, Lead, LeadEvent, LeadProfile, LeadStatus, LeadTally, StageState, Window,
                         utcnow)
from core.store import Store

ACTOR = "clusterer"
KEYWORD_SAMPLE = 25
EDGE_SAMPLE = max(KEYWORD_SAMPLE, REPRESENTATIVE_SAMPLE)  # earliest and latest members read per lead


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
    state = store.stage_state(lexical.STATE_NAME)
    frequencies = (lexical.DocumentFrequencies.from_bytes(state.count, state.payload) if state
                   else lexical.DocumentFrequencies.empty())
    term_counts = lexical.term_counts([lexical.what_text(ep.enrichment) for ep in new_posts])
    frequencies.add(term_counts)
    idf = frequencies.idf()
    vectors = lexical.weigh(term_counts, idf)

    anchored = store.anchor_leads(window.start - timedelta(days=cfg.time_window_days),
                                  window.start - timedelta(days=cfg.reopen_days))
    leads = {lead.id: lead for lead, _ in anchored}
    profiles = {lead.id: profile for lead, profile in anchored if profile is not None}
    backfilled = _backfill_profiles(store, [lid for lid in leads if lid not in profiles], idf)
    profiles.update({p.lead_id: p for p in backfilled})
    anchors = [Anchor(lead.id, lead.first_seen.timestamp(), lead.last_seen.timestamp(), lead.district or "",
                      lead.category or "", lead.street or "", lead.status == LeadStatus.CLOSED,
                      *_point(profiles[lead.id])) for lead, _ in anchored]
    centroids = lexical.stack([(profiles[a.lead_id].features, profiles[a.lead_id].weights) for a in anchors])
    groups = group(new_posts, vectors, anchors, centroids, _store_links(store, new_posts, anchors), cfg)

    # A lead a post joins is not read back whole: its members are summed up in SQL (the
    # tally) and only its earliest and latest members are read, for the title and keywords.
    # A run costs what its new posts cost, however large the leads they join.
    touched = sorted({lid for g in groups for lid in g.lead_ids})
    tallies = store.lead_tallies(touched, window.end - timedelta(days=1))
    edge_ids = store.lead_edge_ids(touched, EDGE_SAMPLE)
    edge_posts = {ep.id: ep for ep in store.enriched_posts([p for ids in edge_ids.values() for p in ids])}
    plans: dict[int, tuple[LeadTally, list[EnrichedPost], list[EnrichedPost]]] = {}
    for n, g in enumerate(groups):
        if not g.lead_ids and len(g.members) < cfg.min_lead_posts:
            continue  # stays unassigned; a later post may join it
        fresh = sorted((new_posts[i] for i in g.members), key=_by_time)
        tally = tally_of(fresh, window.end)
        for lid in g.lead_ids:
            if lid in tallies:
                tally = tallies[lid].plus(tally)
        edges = sorted({ep.id: ep for ep in [*(edge_posts[p] for lid in g.lead_ids for p in edge_ids[lid]
                                              if p in edge_posts), *fresh]}.values(), key=_by_time)
        plans[n] = (tally, fresh, edges)
    # Keywords are re-ranked when a lead is new or has doubled since they were ranked (from its
    # first and latest posts), so their cost per run stays flat however long a lead runs.
    keywords = ctfidf_keywords({n: [ep.enrichment.normalized_text for ep in
                                    (edges if len(edges) <= 2 * KEYWORD_SAMPLE
                                     else edges[:KEYWORD_SAMPLE] + edges[-KEYWORD_SAMPLE:])]
                                for n, (tally, _, edges) in plans.items()
                                if _rekey(leads.get(groups[n].lead_ids[0]) if groups[n].lead_ids else None,
                                          tally.posts)})
    absorbed_ids = store.lead_member_ids([lid for g in groups for lid in g.lead_ids[1:]])

    created: list = []
    updates: list = []
    profile_jobs: list = []
    anchor_row = {a.lead_id: k for k, a in enumerate(anchors)}
    kept: set[str] = set()
    for n, (tally, fresh, edges) in plans.items():
        g = groups[n]
        now = utcnow()
        similarity = {new_posts[i].id: g.similarity[i] for i in g.members}
        if not g.lead_ids:
            lead = build_lead(lead_id_for(fresh[0].id), tally, edges, window.end, weights,
                              keywords=keywords.get(n, ()))
            created.append((lead, [(ep.id, similarity[ep.id]) for ep in fresh],
                            LeadEvent(lead.id, "created", ACTOR, now,
                                      {"posts": [ep.id for ep in fresh], "window_end": window.end.isoformat()})))
            profile_jobs.append((lead.id, [], list(g.members), main_point(tally)))
            counts["leads_created"] += 1
            counts["posts_assigned"] += len(fresh)
            continue
        survivor_id, absorbed = g.lead_ids[0], g.lead_ids[1:]
        attach = [(new_posts[i].id, g.similarity[i]) for i in g.members]
        for other_id in absorbed:
            other = leads[other_id]
            moved = [(p, None) for p in absorbed_ids[other_id]]
            attach += moved
            updates.append((replace(other, status=LeadStatus.MERGED, merged_into=survivor_id), other.version,
                            LeadEvent(other_id, "merged", ACTOR, now, {"into": survivor_id,
                                                                       "posts": [p for p, _ in moved]}), ()))
            counts["leads_merged"] += 1
        previous: Lead = leads[survivor_id]
        reopened = previous.status == LeadStatus.CLOSED
        lead = build_lead(survivor_id, tally, edges, window.end, weights, previous, reopened=reopened,
                          keywords=keywords.get(n, ()))
        detail = {"posts": [new_posts[i].id for i in g.members]}
        if absorbed:
            detail["merged_from"] = list(absorbed)
        kind = "posts_added"
        if reopened:
            lead = replace(lead, status=LeadStatus.NEW)
            kind = "reopened"
            counts["leads_reopened"] += 1
        updates.append((lead, previous.version, LeadEvent(survivor_id, kind, ACTOR, now, detail), attach))
        profile_jobs.append((survivor_id, [(anchor_row[lid], profiles[lid].members) for lid in g.lead_ids],
                             list(g.members), main_point(tally)))
        kept.add(survivor_id)
        counts["leads_updated"] += 1
        counts["posts_assigned"] += len(g.members)
    new_state = StageState(lexical.STATE_NAME, state.version if state else 0, frequencies.docs,
                           frequencies.to_bytes())
    # A backfilled lead that a post joined is saved once, grown.
    saved_profiles = list({p.lead_id: p for p in backfilled + _profiles(profile_jobs, centroids, vectors)}.values())
    store.commit_clustering(updates=updates, created=created, profiles=saved_profiles, state=new_state)
    counts["leads_closed"] = close_quiet_leads(store, config, window, skip=kept)
    return counts


def _rekey(previous: Lead | None, size: int) -> bool:
    return previous is None or not previous.keywords or size.bit_length() > previous.post_count.bit_length()


def _point(profile: LeadProfile) -> tuple[float, float]:
    return (profile.lat, profile.lon) if profile.lat is not None and profile.lon is not None else (np.nan, np.nan)


def _by_time(ep: EnrichedPost) -> tuple:
    return ep.post.published_at, ep.id


def _profiles(groups: list[tuple[str, Sequence[tuple[int, int]], Sequence[int], tuple[float, float] | None]],
              centroids: sparse.csr_matrix, vectors: sparse.csr_matrix) -> list[LeadProfile]:
    """Each (lead id, [(anchor row, members)], [new post rows]) as one profile: the members'
    mean vector, grown from the stored centroids without re-reading old members. Old members
    keep the weights of the document frequencies they were added under; those move little once
    a few thousand posts are counted."""
    stacked = sparse.vstack([centroids, vectors]).tocsr()
    k = centroids.shape[0]
    weights, sizes = [], []
    for _, anchored, fresh, _ in groups:
        total = sum(m for _, m in anchored) + len(fresh)
        sizes.append(total)
        weights.append([(a, m / total) for a, m in anchored] + [(k + i, 1.0 / total) for i in fresh])
    rows = lexical.combine(stacked, weights)
    return [LeadProfile(lead_id, size, rows[n].indices.astype(np.int32), rows[n].data.astype(np.float32),
                        *(point if point else (None, None)))
            for n, ((lead_id, _, _, point), size) in enumerate(zip(groups, sizes))]


def _backfill_profiles(store: Store, lead_ids: list[str], idf) -> list[LeadProfile]:
    """Profiles of leads written before profiles were kept (schema 0007), from their members."""
    if not lead_ids:
        return []
    member_ids = store.lead_member_ids(lead_ids)
    posts = {ep.id: ep for ep in store.enriched_posts([p for ids in member_ids.values() for p in ids])}
    texts, jobs = [], []
    for lid in lead_ids:
        found = [posts[p] for p in member_ids[lid] if p in posts]
        point = main_point(tally_of(found, utcnow())) if found else None
        jobs.append((lid, [], list(range(len(texts), len(texts) + len(found))), point))
        texts += [lexical.what_text(ep.enrichment) for ep in found]
    vectors = lexical.weigh(lexical.term_counts(texts), idf)
    empty = sparse.csr_matrix((0, lexical.N_FEATURES), dtype=np.float32)
    return _profiles(jobs, empty, vectors)


def _store_links(store: Store, posts: list[EnrichedPost], anchors: list[Anchor]) -> list[tuple[int, int]]:
    """(post, anchor) pairs proved by the store: the post's exact text, or the post it reposts,
    is already in that lead."""
    index = {a.lead_id: k for k, a in enumerate(anchors)}
    links = []
    by_hash = store.leads_of_text_hashes([ep.enrichment.text_hash for ep in posts if ep.post.reposted_id is None])
    originals = store.lead_of_posts([ep.post.reposted_id for ep in posts if ep.post.reposted_id])
    for i, ep in enumerate(posts):
        if ep.post.reposted_id:
            lead = originals.get(ep.post.reposted_id)
            if lead in index:
                links.append((i, index[lead]))
        else:
            links += [(i, index[lid]) for lid in sorted(by_hash.get(ep.enrichment.text_hash, ())) if lid in index]
    return links


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
