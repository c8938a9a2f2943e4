"""SQLAlchemy table definitions: the one schema for SQLite and PostgreSQL.

Alembic migrations in core/migrations create these; tests check the two stay in step.
"""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (JSON, BigInteger, Boolean, Column, DateTime, Float, ForeignKey, Index,
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
    Index("ix_enrichments_relevant", "relevant"),
    Index("ix_enrichments_text_hash", "text_hash"),
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
    Index("ix_leads_priority", "priority"),
    Index("ix_leads_status", "status"),
    Index("ix_leads_last_seen", "last_seen"),
)

lead_posts = Table(
    "lead_posts", metadata,
    Column("post_id", String(200), ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True),
    Column("lead_id", String(40), ForeignKey("leads.id"), nullable=False),
    Column("similarity", Float, nullable=False),
    Column("joined_at", UTCDateTime, nullable=False),
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
    Column("updated_at", UTCDateTime, nullable=False),
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
