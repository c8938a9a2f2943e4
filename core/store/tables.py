"""SQLAlchemy table definitions: the one schema for SQLite and PostgreSQL.

Alembic migrations in core/migrations create these; tests check the two stay in step.
"""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (JSON, BigInteger, Boolean, Column, DateTime, Float, ForeignKey, Index, text,
                        Integer, LargeBinary, MetaData, String, Table, Text, TypeDecorator,
                        UniqueConstraint)


class UTCDateTime(TypeDecorator):
    """Stores UTC, returns aware UTC datetimes on every backend (SQLite has no time zones)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} cannot be stored")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect):
        return None if value is None else value.replace(tzinfo=timezone.utc)


metadata = MetaData(naming_convention={
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "pk": "pk_%(table_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s",
})

posts = Table(
    "posts", metadata,
    Column("id", String(200), primary_key=True),
    Column("platform", String(64), nullable=False),
    Column("native_id", String(160), nullable=False),
    Column("url", Text, nullable=False),
    Column("author_hash", String(64), nullable=False),
    Column("author_name", String(200), nullable=False),
    Column("title", Text),
    Column("text", Text, nullable=False),
    Column("published_at", UTCDateTime, nullable=False),
    Column("crawled_at", UTCDateTime, nullable=False),
    Column("likes", BigInteger, nullable=False, default=0),
    Column("comments", BigInteger, nullable=False, default=0),
    Column("shares", BigInteger, nullable=False, default=0),
    Column("views", BigInteger, nullable=False, default=0),
    Column("geotag", String(200)),
    Column("media", JSON, nullable=False),
    Column("reposted_id", String(200)),
    # Hash of the fields a re-crawl may change: tells "updated" from "unchanged".
    Column("content_hash", String(40), nullable=False),
    Column("stored_at", UTCDateTime, nullable=False),
    Index("ix_posts_published_at", "published_at"),
    Index("ix_posts_platform", "platform"),
)

enrichments = Table(
    "enrichments", metadata,
    Column("post_id", String(200), ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True),
    Column("normalized_text", Text, nullable=False),
    Column("relevant", Boolean, nullable=False),
    Column("relevance_score", Float, nullable=False),
    Column("category", String(100)),
    Column("district", String(100)),
    Column("street", String(100)),
    Column("urgent", Boolean, nullable=False, default=False),
    Column("reasons", JSON, nullable=False),
    Column("language", String(16), nullable=False),
    Column("text_hash", String(40), nullable=False),
    # content_hash of the post when enriched: a changed post is enriched again.
    Column("source_hash", String(40), nullable=False),
    Column("enriched_at", UTCDateTime, nullable=False),
    # Added by migration 0004 (the three lists): nullable, rows enriched before have none.
    Column("item", String(16)),
    Column("item_name", String(100)),
    Column("category_confidence", Float),
    Column("urgency_reasons", JSON),
    Column("city", String(100)),
    Column("community", String(100)),
    Column("lat", Float),
    Column("lon", Float),
    Column("location_precision", String(16)),
    Column("location_confidence", Float),
    Column("location_spans", JSON),
    Column("unit", String(200)),
    Column("duty_rule", String(300)),
    Column("process", String(16)),
    Column("dispatch_minutes", Integer),
    Column("resolution_hours", Integer),
    # Added by migration 0012 (finer places, model versions).
    Column("place_name", String(100)),
    Column("place_key", String(100)),
    Column("place_detail", JSON),
    Column("category_model", String(100)),
    Column("what_terms", JSON),
    Index("ix_enrichments_relevant", "relevant"),
    Index("ix_enrichments_text_hash", "text_hash"),
    Index("ix_enrichments_place_key", "place_key"),
)

leads = Table(
    "leads", metadata,
    Column("id", String(40), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("title", Text, nullable=False),
    Column("category", String(100)),
    Column("district", String(100)),
    Column("street", String(100)),
    Column("unit", String(200)),
    Column("urgent", Boolean, nullable=False, default=False),
    Column("priority", Float, nullable=False),
    Column("priority_parts", JSON, nullable=False),
    Column("post_count", Integer, nullable=False),
    Column("platform_count", Integer, nullable=False),
    Column("first_seen", UTCDateTime, nullable=False),
    Column("last_seen", UTCDateTime, nullable=False),
    Column("version", Integer, nullable=False),
    Column("merged_into", String(40)),
    Column("keywords", JSON, nullable=False, default=list),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # Triage (migration 0009, core.triage): nullable, leads written before have none.
    Column("item", String(16)),
    Column("detected_at", UTCDateTime),
    Column("sla_due_at", UTCDateTime),
    Column("dispatch_minutes", Integer),
    Column("resolution_hours", Integer),
    Column("claimed_by", String(100)),
    Column("claim_expires_at", UTCDateTime),
    Column("reject_reason", String(32)),
    Column("rejected_post_count", Integer),
    Column("review_reason", Text),
    Column("dispatched_at", UTCDateTime),
    Column("confirmed", JSON),
    Index("ix_leads_priority", "priority"),
    Index("ix_leads_status", "status"),
    Index("ix_leads_last_seen", "last_seen"),
    # The desk's queue (migration 0011, core.store.triage): read one status at a time in the
    # order shown (priority, time left, newest), scoped by district; the trailing columns are
    # the queue's filters, so counting and filtering read the index alone, never the rows.
    Index("ix_leads_status_priority", "status", "priority", "id", "district", "category", "urgent", "sla_due_at"),
    Index("ix_leads_district_status_priority", "district", "status", "priority", "id", "category", "urgent",
          "sla_due_at"),
    Index("ix_leads_status_sla", "status", "sla_due_at", "priority", "id", "district"),
    Index("ix_leads_status_first_seen", "status", "first_seen", "id", "district"),
)

lead_posts = Table(
    "lead_posts", metadata,
    Column("post_id", String(200), ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True),
    Column("lead_id", String(40), ForeignKey("leads.id"), nullable=False),
    Column("similarity", Float, nullable=False),
    Column("joined_at", UTCDateTime, nullable=False),
    # The analyst who put the post here (a split); the clusterer never moves such a post.
    Column("placed_by", String(100)),
    Index("ix_lead_posts_lead_id", "lead_id"),
)

lead_events = Table(
    "lead_events", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("lead_id", String(40), ForeignKey("leads.id"), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("actor", String(100), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("detail", JSON, nullable=False),
    Index("ix_lead_events_lead_id", "lead_id"),
    Index("ix_lead_events_at", "at"),
    Index("ix_lead_events_actor_at", "actor", "at"),
)

checkpoints = Table(
    "checkpoints", metadata,
    Column("platform", String(64), primary_key=True),
    Column("query", String(200), primary_key=True),
    Column("high_water", String(200)),
    Column("cursor", Text),
    Column("pending_high_water", String(200)),
    Column("updated_at", UTCDateTime, nullable=False),
)

crawl_runs = Table(
    "crawl_runs", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("platform", String(64), nullable=False),
    Column("query", String(200), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=False),
    Column("status", String(16), nullable=False),
    Column("pages", Integer, nullable=False),
    Column("posts_new", Integer, nullable=False),
    Column("posts_updated", Integer, nullable=False),
    Column("errors", JSON, nullable=False),
    Column("blocked_reason", Text),
    Column("alarms", JSON, nullable=False, server_default="[]"),
    Column("posts_skipped", Integer, nullable=False, server_default="0"),
    Index("ix_crawl_runs_platform", "platform"),
)

stage_runs = Table(
    "stage_runs", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("stage", String(32), nullable=False),
    Column("window_start", UTCDateTime, nullable=False),
    Column("window_end", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=False),
    Column("counts", JSON, nullable=False),
)

# Embedding cache: one vector per (model, normalized-text hash), computed once, reused by every
# run. The vector is float32 little-endian bytes (dim * 4). Keyed by model too, so changing the
# model never serves stale vectors.
embeddings = Table(
    "embeddings", metadata,
    Column("model", String(200), primary_key=True),
    Column("text_hash", String(40), primary_key=True),
    Column("dim", Integer, nullable=False),
    Column("vector", LargeBinary, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

# Early warnings (clustering/trends.py): a spike of posts per (category, district) as of one
# window end. Unique on (kind, category, district, window_end) so re-runs upsert, never duplicate.
warnings = Table(
    "warnings", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),  # spike_hour | spike_day
    Column("category", String(100), nullable=False),
    Column("district", String(100), nullable=False),
    Column("window_end", UTCDateTime, nullable=False),
    Column("count", Integer, nullable=False),
    Column("baseline", Float, nullable=False),
    Column("ratio", Float, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("kind", "category", "district", "window_end", name="uq_warnings_key"),
    Index("ix_warnings_window_end", "window_end"),
)

# What the clusterer keeps of a lead between runs: the centroid of its members' char 1-2-gram
# TF-IDF vectors (clustering/lexical.py), hashed feature indices as int32 and weights as float32,
# little-endian. New posts are compared with it instead of re-reading every member.
lead_profiles = Table(
    "lead_profiles", metadata,
    Column("lead_id", String(40), ForeignKey("leads.id"), primary_key=True),
    Column("members", Integer, nullable=False),
    Column("features", LargeBinary, nullable=False),
    Column("weights", LargeBinary, nullable=False),
    Column("lat", Float),
    Column("lon", Float),
    # Added by migration 0008: the members' tally and the representative post, so a lead
    # grows without its members being read back. Null on profiles written before.
    Column("tally", JSON),
    Column("representative", String(200)),
    Column("embedding", LargeBinary),
    Column("embedding_model", String(300)),
    # Added by migration 0012: the place most members name, so a post about it finds the lead
    # however long ago the problem began.
    Column("place_key", String(100)),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_lead_profiles_place_key", "place_key"),
)

# Named state a stage carries from run to run (the clusterer's document frequencies), written
# with optimistic versions like leads.
stage_state = Table(
    "stage_state", metadata,
    Column("name", String(64), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("count", BigInteger, nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)


# --- the analyst desk (migration 0009) ------------------------------------------------------

# Pairs of leads an analyst split apart: the clusterer never merges them again.
lead_separations = Table(
    "lead_separations", metadata,
    Column("lead_a", String(40), primary_key=True),  # the smaller id of the pair
    Column("lead_b", String(40), primary_key=True),
    Column("created_by", String(100), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

users = Table(
    "users", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("display_name", String(100), nullable=False),
    Column("role", String(16), nullable=False),
    Column("districts", JSON, nullable=False),  # empty: every district
    Column("password_hash", String(200)),  # argon2; None for integration users (tokens only)
    Column("disabled", Boolean, nullable=False, default=False),
    Column("failed_logins", Integer, nullable=False, default=0),
    Column("locked_until", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_login_at", UTCDateTime),
)

# API tokens are `<id>.<secret>`: the id finds the row, the secret is checked against its
# argon2 hash; the secret is shown once, when made.
api_tokens = Table(
    "api_tokens", metadata,
    Column("id", String(32), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("token_hash", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_used_at", UTCDateTime),
    Column("revoked", Boolean, nullable=False, default=False),
)

# Web sessions: the cookie holds a random token; only its SHA-256 is stored (the token has
# 256 bits of entropy, so a fast hash is enough, unlike a password).
web_sessions = Table(
    "web_sessions", metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Index("ix_web_sessions_user_id", "user_id"),
)

# Every analyst decision as a training example: the text, what the models said, what the
# analyst decided.
triage_labels = Table(
    "triage_labels", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("lead_id", String(40), nullable=False),
    Column("action", String(32), nullable=False),
    Column("text", Text, nullable=False),
    Column("model", JSON, nullable=False),
    Column("decision", JSON, nullable=False),
    Column("model_version", String(100)),
    Column("actor", String(100), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Index("ix_triage_labels_at", "at"),
)

# SLA breaches: one row per lead that passed its dispatch deadline, kept when it is dispatched.
sla_breaches = Table(
    "sla_breaches", metadata,
    Column("lead_id", String(40), primary_key=True),
    Column("due_at", UTCDateTime, nullable=False),
    Column("recorded_at", UTCDateTime, nullable=False),
    Column("status", String(16), nullable=False),
    Column("category", String(100)),
    Column("district", String(100)),
    Column("urgent", Boolean, nullable=False),
    Column("claimed_by", String(100)),
    Index("ix_sla_breaches_due_at", "due_at"),
)


# --- work orders (migration 0010) ---------------------------------------------------------

# The order row is also the outbox row: it is written in the dispatch's transaction with
# delivery = pending, and the delivery worker leases due rows (lease_until) so two workers
# never send one order at the same time.
work_orders = Table(
    "work_orders", metadata,
    Column("id", String(20), primary_key=True),
    Column("lead_id", String(40), ForeignKey("leads.id"), nullable=False),
    Column("status", String(16), nullable=False),
    Column("target", String(64), nullable=False),
    Column("title", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("category", String(100)),
    Column("item", String(16)),
    Column("item_name", String(100)),
    Column("unit", String(200)),
    Column("urgent", Boolean, nullable=False),
    Column("dispatch_minutes", Integer),
    Column("resolution_hours", Integer),
    Column("due_at", UTCDateTime),
    Column("district", String(100)),
    Column("street", String(100)),
    Column("community", String(100)),
    Column("address", Text),
    Column("lat", Float),
    Column("lon", Float),
    Column("evidence", JSON, nullable=False),
    Column("evidence_hash", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", String(100), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("delivery", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime),
    Column("lease_until", UTCDateTime),
    Column("remote_id", String(100)),
    Column("remote_token", String(100)),
    Column("status_at", UTCDateTime),
    Column("status_reason", Text),
    Column("sends", Integer, nullable=False),
    Column("last_error", Text),
    Column("version", Integer, nullable=False),
    Index("ix_work_orders_lead_id", "lead_id"),
    Index("ix_work_orders_delivery_next", "delivery", "next_attempt_at"),
    Index("ix_work_orders_remote_id", "remote_id"),
    Index("ix_work_orders_item_status", "item", "status"),
    # One live order per lead, enforced by the database, not only by the code that files it.
    Index("uq_work_orders_live_lead", "lead_id", unique=True,
          sqlite_where=text("status != 'closed'"), postgresql_where=text("status != 'closed'")),
)

# Leads that joined an existing open order for the same place and item instead of filing another.
order_leads = Table(
    "order_leads", metadata,
    Column("lead_id", String(40), ForeignKey("leads.id"), primary_key=True),
    Column("order_id", String(20), ForeignKey("work_orders.id"), nullable=False),
    Column("linked_by", String(100), nullable=False),
    Column("linked_at", UTCDateTime, nullable=False),
    Index("ix_order_leads_order_id", "order_id"),
)

# Every status answer received, deduplicated by (order, update id): a callback sent twice is
# stored once.
order_updates = Table(
    "order_updates", metadata,
    Column("order_id", String(20), ForeignKey("work_orders.id"), primary_key=True),
    Column("update_id", String(200), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("source", String(16), nullable=False),
    Column("reason", Text),
    Column("unit", String(200)),
    Column("applied", Boolean, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
)

# The change feed the pull integration reads: one row per change of an order, in commit order;
# the cursor is the last seq read.
order_changes = Table(
    "order_changes", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("order_id", String(20), ForeignKey("work_orders.id"), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Index("ix_order_changes_order_id", "order_id"),
)

# Each delivery target's circuit breaker, shared by every worker process.
delivery_targets = Table(
    "delivery_targets", metadata,
    Column("name", String(64), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("open_until", UTCDateTime),
    Column("updated_at", UTCDateTime, nullable=False),
)


# --- deletion and retention (migration 0013, core.forget) ------------------------------------

# One row per request to forget posts (a person's request, or a retention purge): the audit
# that it was honoured. It keeps ids and counts, never text: `subject` is the salted author
# hash (already a pseudonym, and what tells a repeated request), `post_ids` the ids removed
# (null for a retention purge, whose ids are on the leads' posts_forgotten events).
deletion_requests = Table(
    "deletion_requests", metadata,
    Column("id", String(20), primary_key=True),
    Column("kind", String(16), nullable=False),  # author | posts | retention
    Column("subject", String(200)),  # platform:author_hash, or the retention cutoff (ISO 8601)
    Column("actor", String(100), nullable=False),
    Column("reason", Text),
    Column("at", UTCDateTime, nullable=False),
    Column("posts", Integer, nullable=False),
    Column("post_ids", JSON),
    Column("leads", JSON, nullable=False),
    Column("counts", JSON, nullable=False),
    # "done" once the search index dropped the posts too; else why not (re-run or rebuild).
    Column("index_status", String(200)),
    Index("ix_deletion_requests_at", "at"),
)
