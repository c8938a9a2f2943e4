"""enrichments: catalogue item, urgency reasons, full location, responsible unit and deadlines

Revision ID: 0004_enrichment_lists
Revises: 0003_crawl_alarms
Create Date: 2026-11-22 05:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0004_enrichment_lists'
down_revision = '0003_crawl_alarms'
branch_labels = None
depends_on = None

# All nullable: rows enriched before this revision simply have none of it until re-enriched.
_COLUMNS = (
    ('item', sa.String(length=16)),
    ('item_name', sa.String(length=100)),
    ('category_confidence', sa.Float()),
    ('urgency_reasons', sa.JSON()),
    ('city', sa.String(length=100)),
    ('community', sa.String(length=100)),
    ('lat', sa.Float()),
    ('lon', sa.Float()),
    ('location_precision', sa.String(length=16)),
    ('location_confidence', sa.Float()),
    ('location_spans', sa.JSON()),
    ('unit', sa.String(length=200)),
    ('duty_rule', sa.String(length=300)),
    ('process', sa.String(length=16)),
    ('dispatch_minutes', sa.Integer()),
    ('resolution_hours', sa.Integer()),
)


def upgrade() -> None:
    with op.batch_alter_table('enrichments') as batch:
        for name, type_ in _COLUMNS:
            batch.add_column(sa.Column(name, type_, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('enrichments') as batch:
        for name, _ in reversed(_COLUMNS):
            batch.drop_column(name)
