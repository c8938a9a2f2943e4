"""Finer places and model versions: each enrichment keeps the named place (even one no
gazetteer holds), its identity key and the detail address within it, and which category model
decided; each lead profile keeps the place key most of its members name, indexed, so a post
finds the lead of a long-running problem however long ago it began.

Revision ID: 0012_finer_places
Revises: 0011_queue_indexes
Create Date: 2026-12-04 19:10:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0012_finer_places'
down_revision = '0011_queue_indexes'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('enrichments') as batch:
        batch.add_column(sa.Column('place_name', sa.String(100)))
        batch.add_column(sa.Column('place_key', sa.String(100)))
        batch.add_column(sa.Column('place_detail', sa.JSON()))
        batch.add_column(sa.Column('category_model', sa.String(100)))
        batch.add_column(sa.Column('what_terms', sa.JSON()))
    with op.batch_alter_table('lead_profiles') as batch:
        batch.add_column(sa.Column('place_key', sa.String(100)))
    op.create_index('ix_lead_profiles_place_key', 'lead_profiles', ['place_key'])
    op.create_index('ix_enrichments_place_key', 'enrichments', ['place_key'])


def downgrade() -> None:
    op.drop_index('ix_enrichments_place_key', 'enrichments')
    op.drop_index('ix_lead_profiles_place_key', 'lead_profiles')
    with op.batch_alter_table('lead_profiles') as batch:
        batch.drop_column('place_key')
    with op.batch_alter_table('enrichments') as batch:
        for name in ('what_terms', 'category_model', 'place_detail', 'place_key', 'place_name'):
            batch.drop_column(name)
