"""lead_profiles and stage_state: lead centroids and document frequencies kept between runs,
so a cluster run compares new posts with one vector per lead; indexes for the lookups it makes

Revision ID: 0007_lead_profiles
Revises: 0006_lead_keywords
Create Date: 2026-12-02 19:00:00
"""
from alembic import op
import sqlalchemy as sa

from core.store.tables import UTCDateTime

revision = '0007_lead_profiles'
down_revision = '0006_lead_keywords'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'lead_profiles',
        sa.Column('lead_id', sa.String(40), sa.ForeignKey('leads.id', name='fk_lead_profiles_lead_id'),
                  nullable=False),
        sa.Column('members', sa.Integer(), nullable=False),
        sa.Column('features', sa.LargeBinary(), nullable=False),
        sa.Column('weights', sa.LargeBinary(), nullable=False),
        sa.Column('lat', sa.Float(), nullable=True),
        sa.Column('lon', sa.Float(), nullable=True),
        sa.Column('updated_at', UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('lead_id', name='pk_lead_profiles'),
    )
    op.create_table(
        'stage_state',
        sa.Column('name', sa.String(64), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('count', sa.BigInteger(), nullable=False),
        sa.Column('payload', sa.LargeBinary(), nullable=False),
        sa.Column('updated_at', UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('name', name='pk_stage_state'),
    )
    op.create_index('ix_leads_last_seen', 'leads', ['last_seen'])
    op.create_index('ix_enrichments_text_hash', 'enrichments', ['text_hash'])


def downgrade() -> None:
    op.drop_index('ix_enrichments_text_hash', 'enrichments')
    op.drop_index('ix_leads_last_seen', 'leads')
    op.drop_table('stage_state')
    op.drop_table('lead_profiles')
