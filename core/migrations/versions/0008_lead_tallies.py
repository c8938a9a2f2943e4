"""lead_profiles.tally, .representative, .embedding: a lead's members summed up, its
representative post and its embedding centroid, kept with its char n-gram centroid so a
cluster run never reads a lead's members back

Revision ID: 0008_lead_tallies
Revises: 0007_lead_profiles
Create Date: 2026-12-03 18:10:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0008_lead_tallies'
down_revision = '0007_lead_profiles'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('lead_profiles') as batch:
        batch.add_column(sa.Column('tally', sa.JSON(), nullable=True))
        batch.add_column(sa.Column('representative', sa.String(200), nullable=True))
        batch.add_column(sa.Column('embedding', sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column('embedding_model', sa.String(300), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('lead_profiles') as batch:
        batch.drop_column('embedding_model')
        batch.drop_column('embedding')
        batch.drop_column('representative')
        batch.drop_column('tally')
