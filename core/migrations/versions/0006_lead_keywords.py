"""leads.keywords: the lead summary's c-TF-IDF keywords

Revision ID: 0006_lead_keywords
Revises: 0005_warnings
Create Date: 2026-11-22 05:20:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0006_lead_keywords'
down_revision = '0005_warnings'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('leads') as batch:
        batch.add_column(sa.Column('keywords', sa.JSON(), nullable=False, server_default='[]'))


def downgrade() -> None:
    with op.batch_alter_table('leads') as batch:
        batch.drop_column('keywords')
