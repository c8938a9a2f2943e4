"""warnings: spikes per category x district (early warning), upserted per window end

Revision ID: 0005_warnings
Revises: 0004_enrichment_lists
Create Date: 2026-11-22 05:10:00
"""
from alembic import op
import sqlalchemy as sa

from core.store.tables import UTCDateTime


revision = '0005_warnings'
down_revision = '0004_enrichment_lists'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'warnings',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('category', sa.String(length=100), nullable=False),
        sa.Column('district', sa.String(length=100), nullable=False),
        sa.Column('window_end', UTCDateTime(), nullable=False),
        sa.Column('count', sa.Integer(), nullable=False),
        sa.Column('baseline', sa.Float(), nullable=False),
        sa.Column('ratio', sa.Float(), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name='pk_warnings'),
        sa.UniqueConstraint('kind', 'category', 'district', 'window_end', name='uq_warnings_key'),
    )
    op.create_index('ix_warnings_window_end', 'warnings', ['window_end'])


def downgrade() -> None:
    op.drop_index('ix_warnings_window_end', table_name='warnings')
    op.drop_table('warnings')
