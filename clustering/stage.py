"""The cluster stage: fold new relevant posts into leads, creating, growing and merging them.

Incremental: only posts not yet in a lead are placed; existing leads are loaded as anchors
(one stored centroid each, `lead_profiles`), so a lead keeps its id and its posts across runs
and a run costs what its new posts and the leads they touch cost, not the whole history. A merge keeps the older lead's id and is
recorded on both leads; nothing is renumbered.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import numpy as np
from scipy import sparse

from clustering import lexical
from clustering import places
from clustering.embedding_cache import embed_posts
from clustering.embeddings import Embedder, configured_embedder  # re-exported: callers import it from here
from clustering.grouping import Anchor, group
from clustering.keywords import ctfidf_keywords
from clustering.leads import build_lead, lead_id_for, main_detail, main_point, main_terms, majority, tally_of
from core import sla, triage
from core.config import ClusteringConfig, Config
from core.search import SearchIndex
from core.models import (EnrichedPost, Lead, LeadEvent, LeadProfile, LeadStatus, LeadTally, StageState, Window,
                         utcnow)
from core.store import Store

ACTOR = "clusterer"
KEYWORD_SAMPLE = 25
BACKFILL_CANDIDATES = 10  # earliest members that stand for a lead with no representative yet


def with_model_floor(cfg: ClusteringConfig, embedder: Embedder | None) -> ClusteringConfig:
    """The clustering settings with the model's own "unrelated" cosine (a static model's, from its
    build) unless radar.yaml sets `embedding_floor` itself; e5 models carry none and keep 0.88."""
    floor = getattr(embedder, "floor", None)
    if floor is None or "embedding_floor" in cfg.model_fields_set:
        return cfg
    return cfg.model_copy(update={"embedding_floor": floor})


def cluster(store: Store, config: Config, window: Window, *, relevant_only: bool = True,
            embedder: Embedder | None = None, search: SearchIndex | None = None) -> dict[str, int]:
    """Place the window's unassigned posts; `relevant_only=False` clusters every enriched post
    (offline analysis of a file whose rows are all complaints). `embedder` defaults to the
    configured model (RADAR_EMBEDDING_MODEL) unless `embedding_weight` is 0. With
    `clustering.candidates: knn`, `search` (its leads indexed with their centroids) finds the
    leads a post may join; without it, or without embeddings, the time-window scan does."""
    cfg = config.radar.clustering
    weights = config.radar.priority
    new_posts = store.posts.unassigned_relevant(window, relevant_only)
    counted = len(new_posts)
    if new_posts:
        new_posts = _with_pending(store, cfg, window, new_posts, relevant_only)
    counts = {"new_posts": counted, "leads_created": 0, "leads_updated": 0,
              "leads_merged": 0, "leads_reopened": 0, "leads_closed": 0, "posts_assigned": 0,
              "leads_returned": 0, "leads_still_reported": 0}
    if not new_posts:
        counts["leads_closed"] = close_quiet_leads(store, config, window)
        return counts
    state = store.leads.stage_state(lexical.STATE_NAME)
    frequencies = (lexical.DocumentFrequencies.from_bytes(state.count, state.payload) if state
                   else lexical.DocumentFrequencies.empty())
    term_counts = lexical.term_counts([lexical.what_text(ep.enrichment) for ep in new_posts])
    # Posts still waiting from earlier runs were counted when they came in.
    fresh_rows = [i for i, ep in enumerate(new_posts) if ep.post.published_at >= window.start]
    frequencies.add(term_counts[fresh_rows])
    idf = frequencies.idf()
    vectors = lexical.weigh(term_counts, idf)

    if embedder is None and cfg.embedding_weight > 0:
        embedder = configured_embedder()
    embeddings = embed_posts(store, embedder, new_posts) if embedder is not None else None
    cfg = with_model_floor(cfg, embedder)

    open_since = window.start - timedelta(days=cfg.time_window_days)
    closed_since = window.start - timedelta(days=cfg.reopen_days)
    if cfg.candidates == "knn" and search is not None and embeddings is not None:
        anchored = store.leads.anchors(open_since, closed_since,
                                       ids=knn_candidates(search, new_posts, embeddings, min(open_since, closed_since),
                                                          cfg.knn_k))
    else:
        anchored = store.leads.anchors(open_since, closed_since)
    # The time window bounds the scan; a lead still open at a place a new post names is found
    # by the place, however long its problem has run.
    anchored += store.leads.anchors_at(_place_keys(new_posts), exclude=[lead.id for lead, _ in anchored])
    leads = {lead.id: lead for lead, _ in anchored}
    profiles = {lead.id: profile for lead, profile in anchored if profile is not None}
    backfilled = _backfill_profiles(store, [lid for lid in leads if lid not in profiles], idf)
    profiles.update({p.lead_id: p for p in backfilled})
    anchors = [Anchor(lead.id, lead.first_seen.timestamp(), lead.last_seen.timestamp(), lead.district or "",
                      _matching_category(lead, profiles[lead.id]), lead.street or "", lead.status == LeadStatus.CLOSED,
                      *_point(profiles[lead.id]), *_spot(profiles[lead.id]), _matching_terms(lead, profiles[lead.id]))
               for lead, _ in anchored]
    centroids = lexical.stack([(profiles[a.lead_id].features, profiles[a.lead_id].weights) for a in anchors])
    anchor_embeddings = (_anchor_embeddings([profiles[a.lead_id] for a in anchors], embedder)
                         if embedder is not None else None)
    groups = group(new_posts, vectors, anchors, centroids, _store_links(store, new_posts, anchors), cfg,
                   embeddings, anchor_embeddings)
    groups = _respect_analysts(store, groups, leads)

    # A lead a post joins is not read back: its tally (members summed up), centroid and
    # representative post are kept in its profile, so a run costs what its new posts cost,
    # however large the leads they join.
    touched = sorted({lid for g in groups for lid in g.lead_ids})
    day_before = window.end - timedelta(days=1)
    tallies = {lid: profiles[lid].tally for lid in touched if profiles[lid].tally is not None}
    tallies.update(store.leads.tallies([lid for lid in touched if lid not in tallies], day_before))
    plans: list[_Plan] = []
    for n, g in enumerate(groups):
        if not g.lead_ids and len(g.members) < cfg.min_lead_posts:
            continue  # stays unassigned; a later post may join it
        fresh = sorted((new_posts[i] for i in g.members), key=_by_time)
        tally = tally_of(fresh, window.end)
        for lid in g.lead_ids:
            if lid in tallies:
                tally = tallies[lid].plus(tally)
        plans.append(_Plan(n, g.lead_ids[0] if g.lead_ids else lead_id_for(fresh[0].id),
                           tally.since(day_before), fresh))
    anchor_row = {a.lead_id: k for k, a in enumerate(anchors)}
    grown = _profiles([(plan.lead_id, [(anchor_row[lid], profiles[lid].members) for lid in groups[plan.n].lead_ids],
                        list(groups[plan.n].members), main_point(plan.tally)) for plan in plans], centroids, vectors)
    reps = _representatives(store, plans, groups, profiles, grown, new_posts, vectors, idf)
    recurrence_of = _recurrences(store, [(plan, profile) for plan, profile in zip(plans, grown)
                                         if not groups[plan.n].lead_ids], cfg.same_problem_threshold / 2,
                                 cfg.recurrence_candidates)
    keywords = _keywords(store, plans, groups, leads)
    absorbed_ids = store.leads.member_ids([lid for g in groups for lid in g.lead_ids[1:]])

    created: list = []
    updates: list = []
    kept: set[str] = set()
    for plan, profile, rep in zip(plans, grown, reps):
        g, fresh, tally = groups[plan.n], plan.fresh, plan.tally
        now = utcnow()
        similarity = {new_posts[i].id: g.similarity[i] for i in g.members}
        if not g.lead_ids:
            lead = build_lead(plan.lead_id, tally, rep, window.end, weights, keywords=keywords.get(plan.n, ()))
            lead = _clocked(replace(lead, detected_at=_detected(fresh)), config)
            detail = {"posts": [ep.id for ep in fresh], "window_end": window.end.isoformat()}
            if plan.n in recurrence_of:
                detail["recurrence_of"] = recurrence_of[plan.n]
            created.append((lead, [(ep.id, similarity[ep.id]) for ep in fresh],
                            LeadEvent(lead.id, "created", ACTOR, now, detail)))
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
        lead = triage.clusterer_update(previous, build_lead(survivor_id, tally, rep, window.end, weights, previous,
                                                            reopened=reopened, keywords=keywords.get(plan.n, ())))
        detail = {"posts": [new_posts[i].id for i in g.members]}
        if absorbed:
            detail["merged_from"] = list(absorbed)
        kind = "posts_added"
        if reopened:
            # the problem is back: a new detection, a new SLA clock
            lead = _clocked(replace(lead, status=LeadStatus.NEW, detected_at=_detected(fresh), sla_due_at=None),
                            config)
            kind = "reopened"
            counts["leads_reopened"] += 1
        elif lead.status == LeadStatus.REJECTED and triage.substantially_new(
                lead, config.radar.triage.return_min_posts, config.radar.triage.return_growth):
            why = (f"驳回（{triage.REJECT_REASONS.get(lead.reject_reason or '', lead.reject_reason)}）后新增 "
                   f"{lead.post_count - (lead.rejected_post_count or 0)} 条帖子，驳回时 {lead.rejected_post_count} 条")
            lead = _clocked(replace(lead, status=LeadStatus.NEW, review_reason=why, detected_at=_detected(fresh),
                                    sla_due_at=None), config)
            kind = "returned_to_review"
            detail["reason"] = why
            counts["leads_returned"] += 1
        elif lead.status == LeadStatus.DISPATCHED and (why := _still_reported(store, lead, len(g.members))):
            # resolved (or closed) at the receiver, yet people still post about it: back to an analyst
            lead = replace(lead, review_reason=why)
            if why.startswith("已关闭"):
                lead = _clocked(replace(lead, status=LeadStatus.NEW, detected_at=_detected(fresh), sla_due_at=None),
                                config)
            kind = "reported_after_resolution"
            detail["reason"] = why
            counts["leads_still_reported"] += 1
        else:
            lead = _clocked(lead, config)
        updates.append((lead, previous.version, LeadEvent(survivor_id, kind, ACTOR, now, detail), attach))
        kept.add(survivor_id)
        counts["leads_updated"] += 1
        counts["posts_assigned"] += len(g.members)
    grown = [replace(profile, tally=plan.tally, representative=rep.id,
                     embedding=_grown_embedding(plan, groups[plan.n], anchor_row, profiles, anchor_embeddings,
                                                embeddings),
                     embedding_model=embedder.name if embedder is not None else None,
                     place_key=majority(plan.tally.spots))
             for plan, profile, rep in zip(plans, grown, reps)]
    new_state = StageState(lexical.STATE_NAME, state.version if state else 0, frequencies.docs,
                           frequencies.to_bytes())
    # A backfilled lead that a post joined is saved once, grown.
    saved_profiles = list({p.lead_id: p for p in backfilled + grown}.values())
    store.leads.commit_clustering(updates=updates, created=created, profiles=saved_profiles, state=new_state)
    counts["leads_closed"] = close_quiet_leads(store, config, window, skip=kept)
    return counts


def _place_keys(posts: Sequence[EnrichedPost]) -> list[str]:
    """The place keys the posts name and their shorter spellings (clustering.places)."""
    keys = {ep.enrichment.place_key for ep in posts if ep.enrichment.place_key}
    return sorted(keys | {v for k in keys for v in places.variants(k)})


def _with_pending(store: Store, cfg, window: Window, new_posts: list[EnrichedPost],
                  relevant_only: bool) -> list[EnrichedPost]:
    """The window's posts plus those still in no lead from before it: the time window's (a
    report alone on its day pairs with the next day's), and, further back (up to reopen_days),
    those naming a place a new post names."""
    recent = Window(window.start - timedelta(days=cfg.time_window_days), window.start)
    pending = store.posts.unassigned_relevant(recent, relevant_only)
    older = Window(window.start - timedelta(days=cfg.reopen_days), recent.start)
    pending += store.posts.unassigned_at_places(_place_keys(new_posts), older, relevant_only)
    if not pending:
        return new_posts
    return sorted({ep.id: ep for ep in pending + new_posts}.values(), key=_by_time)


def _recurrences(store: Store, created: Sequence[tuple["_Plan", LeadProfile]], threshold: float,
                 latest: int) -> dict[int, str]:
    """plan index -> the closed lead a new lead repeats: the same place, category and meaning,
    back after its lead closed and stayed quiet past reopen_days (within them it would have
    reopened). The new lead links to it rather than reopening a case long settled. Only the
    `latest` closed leads seen at each place are compared: an older occurrence is one link
    further back along the chain. Centroid to centroid is the mean cosine over all pairs of
    their posts, lower than a post to its own lead's centroid: the caller passes a lower bar
    (a link is a pointer for the analyst, not a merge)."""
    keyed = [(plan, profile, majority(plan.tally.spots)) for plan, profile in created]
    keyed = [(plan, profile, key) for plan, profile, key in keyed if key]
    if not keyed:
        return {}
    old = [(lead, profile) for lead, profile in
           store.leads.anchors_at([key for _, _, key in keyed], statuses=[LeadStatus.CLOSED], latest=latest)
           if profile is not None and profile.place_key]
    if not old:
        return {}
    # One product for every (new, old) pair, then the pairs that share place and category.
    scores = (lexical.stack([(profile.features, profile.weights) for _, profile, _ in keyed])
              @ lexical.stack([(profile.features, profile.weights) for _, profile in old]).T).toarray()
    out = {}
    for row, (plan, _, key) in enumerate(keyed):
        category = majority(plan.tally.categories)
        best = (threshold, None)
        for col, (lead, profile) in enumerate(old):
            if profile.place_key == key and lead.category == category and scores[row, col] >= best[0]:
                best = (float(scores[row, col]), lead.id)
        if best[1] is not None:
            out[plan.n] = best[1]
    return out


def _respect_analysts(store: Store, groups: list, leads: dict[str, Lead]) -> list:
    """Groups whose leads the clusterer may fold together: a lead an analyst touched (triaged,
    merged into, split) or a pair an analyst split apart is never absorbed; the group's posts
    join its first lead and the others stay as they are."""
    multi = [g for g in groups if len(g.lead_ids) > 1]
    if not multi:
        return groups
    apart = store.triage.kept_apart(sorted({lid for g in multi for lid in g.lead_ids}))
    out = []
    for g in groups:
        if len(g.lead_ids) > 1:
            survivor = leads[g.lead_ids[0]]
            keep = tuple(lid for lid in g.lead_ids[1:] if triage.clusterer_may_absorb(survivor, leads[lid], apart))
            g = replace(g, lead_ids=(survivor.id, *keep))
        out.append(g)
    return out


def _still_reported(store: Store, lead: Lead, new_posts: int) -> str | None:
    """Why a dispatched lead whose order is resolved or closed needs an analyst again, or None.
    A resolved order is re-sent as the same order (不满意重办); a closed one needs a new one,
    so its lead goes back to the queue."""
    from core.orders import OrderStatus
    order = store.orders.for_lead(lead.id)
    if order is None or order.status not in (OrderStatus.RESOLVED, OrderStatus.CLOSED):
        return None
    state = "已办结" if order.status == OrderStatus.RESOLVED else "已关闭"
    return f"{state}但仍有人反映：工单 {order.id} 之后新增 {new_posts} 条帖子"


def _matching_category(lead: Lead, profile: LeadProfile) -> str:
    """The category new posts are matched on: the one the enrichment gave the lead's posts.
    An analyst's correction is the lead's truth, but new posts arrive labelled by the same
    enrichment as the old ones, so they must be compared on its terms."""
    if "category" in lead.confirmed and profile.tally is not None and profile.tally.categories:
        return majority(profile.tally.categories) or lead.category or ""
    return lead.category or ""


def _matching_terms(lead: Lead, profile: LeadProfile) -> tuple[str, ...]:
    """The catalogue keywords new posts are matched on (what the lead is about, as the
    enrichment read its posts): none (unknown) for a lead with no tally yet."""
    return main_terms(profile.tally) if profile.tally is not None else ()


def _detected(fresh: Sequence[EnrichedPost]) -> datetime:
    """When the radar first saw the problem: the earliest crawl of the posts that made it."""
    return min(max(ep.post.crawled_at, ep.post.published_at) for ep in fresh)


def _clocked(lead: Lead, config: Config) -> Lead:
    """The lead with its catalogue item's SLA deadline; a running clock only ever shortens
    (an urgent post joined), and stops once dispatched."""
    if lead.status not in sla.RUNNING:
        return lead
    due = sla.due_at(lead, config.implementation)
    return replace(lead, sla_due_at=min(due, lead.sla_due_at) if lead.sla_due_at else due)


@dataclass(frozen=True)
class _Plan:
    """A group that becomes or grows a lead: its index, the lead's id, the tally of all its
    members, and its new posts (oldest first)."""

    n: int
    lead_id: str
    tally: LeadTally
    fresh: list[EnrichedPost]


def _representatives(store: Store, plans: Sequence[_Plan], groups, profiles: dict[str, LeadProfile],
                     grown: Sequence[LeadProfile], new_posts: Sequence[EnrichedPost],
                     vectors: sparse.csr_matrix, idf: np.ndarray) -> list[EnrichedPost]:
    """Each plan's representative: of the leads' current representatives and the new posts,
    the one closest to the grown centroid (its mean cosine to all members); ties to the oldest.
    Only the current representatives are read back (the earliest members of a lead that has
    none yet)."""
    row_of = {ep.id: i for i, ep in enumerate(new_posts)}
    missing = sorted({lid for plan in plans for lid in groups[plan.n].lead_ids if not profiles[lid].representative})
    earliest = store.leads.edge_ids(missing, BACKFILL_CANDIDATES) if missing else {}
    old_ids = {profiles[lid].representative for plan in plans for lid in groups[plan.n].lead_ids
               if profiles[lid].representative} | {p for ids in earliest.values() for p in ids}
    old = {ep.id: ep for ep in store.posts.enriched(sorted(old_ids))}
    old_order = list(old)
    old_vectors = lexical.weigh(lexical.term_counts([lexical.what_text(old[p].enrichment) for p in old_order]), idf)
    old_row = {p: i for i, p in enumerate(old_order)}
    if not plans:
        return []
    candidates: list[tuple[int, EnrichedPost, sparse.csr_matrix]] = []  # (plan, post, its vector)
    for k, plan in enumerate(plans):
        candidates += [(k, ep, vectors[row_of[ep.id]]) for ep in plan.fresh]
        for lid in groups[plan.n].lead_ids:
            ids = [profiles[lid].representative] if profiles[lid].representative else earliest.get(lid, [])
            candidates += [(k, old[p], old_vectors[old_row[p]]) for p in ids if p in old]
    owner = np.array([k for k, _, _ in candidates])
    posts = [ep for _, ep, _ in candidates]
    centroids = lexical.stack([(profile.features, profile.weights) for profile in grown])
    scores = np.asarray(sparse.vstack([vec for _, _, vec in candidates]).multiply(centroids[owner]).sum(axis=1)).ravel()
    best: dict[int, tuple] = {}
    for c, k in enumerate(owner.tolist()):
        key = (-round(float(scores[c]), 6), *_by_time(posts[c]))
        if k not in best or key < best[k][0]:
            best[k] = (key, c)
    return [posts[best[k][1]] for k in range(len(plans))]


def _keywords(store: Store, plans: Sequence[_Plan], groups, leads: dict[str, Lead]) -> dict[int, tuple[str, ...]]:
    """c-TF-IDF keywords, re-ranked when a lead is new or has doubled since they were ranked,
    from its earliest and latest posts: their cost per run stays flat however long a lead runs."""
    due = [plan for plan in plans
           if _rekey(leads.get(groups[plan.n].lead_ids[0]) if groups[plan.n].lead_ids else None, plan.tally.posts)]
    lead_ids = sorted({lid for plan in due for lid in groups[plan.n].lead_ids})
    edge_ids = store.leads.edge_ids(lead_ids, KEYWORD_SAMPLE) if lead_ids else {}
    edge_posts = {ep.id: ep for ep in store.posts.enriched(sorted({p for ids in edge_ids.values() for p in ids}))}
    texts = {}
    for plan in due:
        members = sorted({ep.id: ep for ep in [*(edge_posts[p] for lid in groups[plan.n].lead_ids
                                                 for p in edge_ids[lid] if p in edge_posts), *plan.fresh]}.values(),
                         key=_by_time)
        if len(members) > 2 * KEYWORD_SAMPLE:
            members = members[:KEYWORD_SAMPLE] + members[-KEYWORD_SAMPLE:]
        texts[plan.n] = [ep.enrichment.normalized_text for ep in members]
    return ctfidf_keywords(texts)


def knn_candidates(search: SearchIndex, posts: Sequence[EnrichedPost], embeddings: np.ndarray,
                   since: datetime, k: int) -> list[str]:
    """The leads nearest (embedding centroid) to each post with words of its own, in its
    district (any district when it names none), seen since `since`: one batched lookup instead
    of loading every lead of the time window."""
    own = [i for i, ep in enumerate(posts) if ep.post.reposted_id is None]
    if not own:
        return []
    hits = search.candidate_leads_many(embeddings[own], [posts[i].enrichment.district for i in own],
                                       since=since, k=k)
    return sorted({h.lead_id for found in hits for h in found})


def _anchor_embeddings(profiles: Sequence[LeadProfile], embedder: Embedder) -> np.ndarray:
    """The leads' embedding centroids as rows; NaN where a lead has none from this model."""
    out = np.full((len(profiles), embedder.dim), np.nan, dtype=np.float32)
    for k, p in enumerate(profiles):
        if p.embedding is not None and p.embedding_model == embedder.name and p.embedding.shape == (embedder.dim,):
            out[k] = p.embedding
    return out


def _grown_embedding(plan: "_Plan", g, anchor_row: dict[str, int], profiles: dict[str, LeadProfile],
                     anchor_embeddings: np.ndarray | None, embeddings: np.ndarray | None) -> np.ndarray | None:
    """The mean embedding of the lead's members, grown from the stored centroids like the
    char n-gram one; centroids this model did not write are left out of the mean."""
    if embeddings is None:
        return None
    total = np.asarray(embeddings[list(g.members)].sum(axis=0), dtype=np.float64)
    n = len(g.members)
    for lid in g.lead_ids:
        row = anchor_embeddings[anchor_row[lid]]
        if not np.isnan(row[0]):
            total += row * profiles[lid].members
            n += profiles[lid].members
    return (total / n).astype(np.float32)


def _rekey(previous: Lead | None, size: int) -> bool:
    return previous is None or not previous.keywords or size.bit_length() > previous.post_count.bit_length()


def _spot(profile: LeadProfile) -> tuple[str, tuple[tuple[str, str], ...]]:
    """The lead's place key and detail address, from its members' tally."""
    if profile.tally is None:
        return profile.place_key or "", ()
    return profile.place_key or majority(profile.tally.spots) or "", main_detail(profile.tally)


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
    member_ids = store.leads.member_ids(lead_ids)
    posts = {ep.id: ep for ep in store.posts.enriched([p for ids in member_ids.values() for p in ids])}
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
    by_hash = store.leads.of_text_hashes([ep.enrichment.text_hash for ep in posts if ep.post.reposted_id is None])
    originals = store.leads.of_posts([ep.post.reposted_id for ep in posts if ep.post.reposted_id])
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
    for lead in store.leads.seen_since(window.end - timedelta(days=cfg.reopen_days + cfg.quiet_days_to_close),
                                       [LeadStatus.NEW, LeadStatus.VERIFIED]):
        if lead.id in skip or lead.last_seen >= quiet_since:
            continue
        closing.append((replace(lead, status=LeadStatus.CLOSED), lead.version,
                        LeadEvent(lead.id, "closed", ACTOR, utcnow(),
                                  {"quiet_days": cfg.quiet_days_to_close, "last_seen": lead.last_seen.isoformat()}), ()))
    store.leads.update_many(closing)
    return len(closing)
