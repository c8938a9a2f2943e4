"""embedding cache

Revision ID: 0002_embeddings
Revises: 0001
Create Date: 2026-11-22 04:20:00
"""
from alembic import op
import sqlalchemy as sa
import core.store.tables


revision = '0002_embeddings'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('embeddings',
    sa.Column('model', sa.String(length=200), nullable=False),
    sa.Column('text_hash', sa.String(length=40), nullable=False),
    sa.Column('dim', sa.Integer(), nullable=False),
    sa.Column('vector', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', core.store.tables.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('model', 'text_hash', name=op.f('pk_embeddings'))
    )


def downgrade() -> None:
    op.drop_table('embeddings')
