"""Deletion and retention: one audit row per request to forget posts (core.forget).

Revision ID: 0013_deletion_requests
Revises: 0012_finer_places
Create Date: 2026-12-07 05:30:00
"""
import sqlalchemy as sa
from alembic import op

from core.store.tables import UTCDateTime

revision = '0013_deletion_requests'
down_revision = '0012_finer_places'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'deletion_requests',
        sa.Column('id', sa.String(20), nullable=False),
        sa.Column('kind', sa.String(16), nullable=False),
        sa.Column('subject', sa.String(200)),
        sa.Column('actor', sa.String(100), nullable=False),
        sa.Column('reason', sa.Text()),
        sa.Column('at', UTCDateTime(), nullable=False),
        sa.Column('posts', sa.Integer(), nullable=False),
        sa.Column('post_ids', sa.JSON()),
        sa.Column('leads', sa.JSON(), nullable=False),
        sa.Column('counts', sa.JSON(), nullable=False),
        sa.Column('index_status', sa.String(200)),
        sa.PrimaryKeyConstraint('id', name='pk_deletion_requests'),
    )
    op.create_index('ix_deletion_requests_at', 'deletion_requests', ['at'])


def downgrade() -> None:
    op.drop_index('ix_deletion_requests_at', 'deletion_requests')
    op.drop_table('deletion_requests')
