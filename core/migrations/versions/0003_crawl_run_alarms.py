"""crawl_runs: alarms and skipped placeholders in the coverage record

Revision ID: 0003_crawl_alarms
Revises: 0002_embeddings
Create Date: 2026-11-22 05:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0003_crawl_alarms'
down_revision = '0002_embeddings'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('crawl_runs') as batch:
        batch.add_column(sa.Column('alarms', sa.JSON(), nullable=False, server_default='[]'))
        batch.add_column(sa.Column('posts_skipped', sa.Integer(), nullable=False, server_default='0'))


def downgrade() -> None:
    with op.batch_alter_table('crawl_runs') as batch:
        batch.drop_column('posts_skipped')
        batch.drop_column('alarms')
