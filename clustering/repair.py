"""Rebuild leads from the members they have left, after some of their posts were forgotten
(core.forget): counts, first and last seen, title (a new representative post), keywords,
priority, and the profile the clusterer compares new posts with (centroid, tally, embedding).

Nothing derived from a forgotten post may survive in a lead: its title was cut from a post,
its keywords and centroid were computed from posts. So the lead is recomputed from the
remaining members, read back whole (a deletion is rare; a lead's size is what it costs), the
same way the cluster stage computes a lead; what triage owns (status, SLA, analyst-confirmed
fields) is kept as the clusterer keeps it (core.triage.clusterer_update).
"""
from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

import numpy as np

from clustering import lexical
from clustering.keywords import ctfidf_keywords
from clustering.leads import build_lead, main_point, majority, tally_of
from clustering.stage import KEYWORD_SAMPLE
from core import triage
from core.config import PriorityWeights
from core.forget import EMPTIED_TITLE
from core.models import EnrichedPost, Lead, LeadProfile, LeadStatus
from core.sla import RUNNING
from core.store import Store


@dataclass(frozen=True)
class RepairedLead:
    """A lead as it should be written, the version it was read at, its rebuilt profile, and
    whether no member is left."""

    lead: Lead
    read_version: int
    profile: LeadProfile
    emptied: bool
    removed: tuple[str, ...]  # its member posts being forgotten


def repair_leads(store: Store, lead_ids: Sequence[str], forgotten: Collection[str], as_of: datetime,
                 weights: PriorityWeights) -> list[RepairedLead]:
    """Each lead of `lead_ids` recomputed as if the `forgotten` posts had never joined it."""
    if not lead_ids:
        return []
    forgotten = set(forgotten)
    member_ids = store.leads.member_ids(list(lead_ids))
    keep = {lid: [p for p in ids if p not in forgotten] for lid, ids in member_ids.items()}
    posts = {ep.id: ep for ep in store.posts.enriched(sorted({p for ids in keep.values() for p in ids}))}
    old_profiles = store.leads.profiles(list(lead_ids))
    state = store.leads.stage_state(lexical.STATE_NAME)
    idf = (lexical.DocumentFrequencies.from_bytes(state.count, state.payload) if state
           else lexical.DocumentFrequencies.empty()).idf()
    members = {lid: sorted((posts[p] for p in keep[lid] if p in posts), key=lambda ep: (ep.post.published_at, ep.id))
               for lid in lead_ids}
    keywords = ctfidf_keywords({lid: [ep.enrichment.normalized_text for ep in _sample(found)]
                                for lid, found in members.items() if found})
    out = []
    for lid in lead_ids:
        previous = store.leads.get(lid)
        removed = tuple(p for p in member_ids[lid] if p in forgotten)
        found = members[lid]
        if not found:
            out.append(RepairedLead(_emptied(previous), previous.version, _empty_profile(lid), True, removed))
            continue
        tally = tally_of(found, as_of)
        vectors = lexical.weigh(lexical.term_counts([lexical.what_text(ep.enrichment) for ep in found]), idf)
        centroid = lexical.combine(vectors, [[(i, 1.0 / len(found)) for i in range(len(found))]])
        scores = np.asarray(vectors.multiply(centroid).sum(axis=1)).ravel()
        # the member closest to the centroid; ties to the oldest (members are oldest first)
        rep = found[int(np.argmax(np.round(scores, 6)))]
        computed = build_lead(lid, tally, rep, as_of, weights, previous, keywords=keywords.get(lid, ()))
        lead = replace(triage.clusterer_update(previous, computed), keywords=keywords.get(lid, ()))
        point = main_point(tally)
        old = old_profiles.get(lid)
        model = old.embedding_model if old is not None else None
        row = centroid[0]
        profile = LeadProfile(lid, len(found), row.indices.astype(np.int32), row.data.astype(np.float32),
                              *(point if point else (None, None)), tally=tally, representative=rep.id,
                              embedding=_mean_embedding(store, model, found), embedding_model=model,
                              place_key=majority(tally.spots))
        out.append(RepairedLead(lead, previous.version, profile, False, removed))
    return out


def _sample(found: Sequence[EnrichedPost]) -> Sequence[EnrichedPost]:
    """The earliest and latest members, as the cluster stage ranks keywords from."""
    return found if len(found) <= 2 * KEYWORD_SAMPLE else [*found[:KEYWORD_SAMPLE], *found[-KEYWORD_SAMPLE:]]


def _mean_embedding(store: Store, model: str | None, found: Sequence[EnrichedPost]) -> np.ndarray | None:
    """The members' mean embedding from the cache; None (the clusterer then goes by words until
    the lead grows) when the lead had none or a member's vector is not cached: the model is
    not loaded here to compute one."""
    if model is None:
        return None
    hashes = [ep.enrichment.text_hash for ep in found]
    cached = store.posts.get_embeddings(model, hashes)
    if any(h not in cached for h in hashes):
        return None
    return np.mean([cached[h] for h in hashes], axis=0).astype(np.float32)


def _emptied(previous: Lead) -> Lead:
    """A lead with no post left keeps its row (its events and work orders point at it) but
    nothing drawn from the posts; an open one is closed: there is nothing left to review."""
    status = LeadStatus.CLOSED if previous.status in RUNNING else previous.status
    # what the problem was, from fields no one person wrote, so a report still reads
    about = " ".join(x for x in (previous.category, previous.district, previous.street) if x)
    return replace(previous, status=status, title=f"{EMPTIED_TITLE} {about}".strip(), keywords=(), post_count=0, platform_count=0,
                   claimed_by=None if status != previous.status else previous.claimed_by,
                   claim_expires_at=None if status != previous.status else previous.claim_expires_at)


def _empty_profile(lead_id: str) -> LeadProfile:
    """A profile with no members and a zero centroid: no new post ever matches it, and the
    clusterer does not rebuild it from members (there are none) on its next run."""
    return LeadProfile(lead_id, 0, np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.float32))
