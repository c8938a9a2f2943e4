"""Work orders: the order (also the delivery outbox row), leads linked to an existing order,
status updates received (deduplicated), the pull change feed, circuit breakers per target

Revision ID: 0010_work_orders
Revises: 0009_analyst_desk
Create Date: 2026-12-04 16:00:00
"""
from alembic import op
import sqlalchemy as sa

from core.store.tables import UTCDateTime

revision = '0010_work_orders'
down_revision = '0009_analyst_desk'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'work_orders',
        sa.Column('id', sa.String(20), nullable=False),
        sa.Column('lead_id', sa.String(40), sa.ForeignKey('leads.id', name='fk_work_orders_lead_id'), nullable=False),
        sa.Column('status', sa.String(16), nullable=False),
        sa.Column('target', sa.String(64), nullable=False),
        sa.Column('title', sa.Text(), nullable=False),
        sa.Column('description', sa.Text(), nullable=False),
        sa.Column('category', sa.String(100), nullable=True),
        sa.Column('item', sa.String(16), nullable=True),
        sa.Column('item_name', sa.String(100), nullable=True),
        sa.Column('unit', sa.String(200), nullable=True),
        sa.Column('urgent', sa.Boolean(), nullable=False),
        sa.Column('dispatch_minutes', sa.Integer(), nullable=True),
        sa.Column('resolution_hours', sa.Integer(), nullable=True),
        sa.Column('due_at', UTCDateTime(), nullable=True),
        sa.Column('district', sa.String(100), nullable=True),
        sa.Column('street', sa.String(100), nullable=True),
        sa.Column('community', sa.String(100), nullable=True),
        sa.Column('address', sa.Text(), nullable=True),
        sa.Column('lat', sa.Float(), nullable=True),
        sa.Column('lon', sa.Float(), nullable=True),
        sa.Column('evidence', sa.JSON(), nullable=False),
        sa.Column('evidence_hash', sa.String(64), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('created_by', sa.String(100), nullable=False),
        sa.Column('updated_at', UTCDateTime(), nullable=False),
        sa.Column('delivery', sa.String(16), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', UTCDateTime(), nullable=True),
        sa.Column('lease_until', UTCDateTime(), nullable=True),
        sa.Column('remote_id', sa.String(100), nullable=True),
        sa.Column('remote_token', sa.String(100), nullable=True),
        sa.Column('status_at', UTCDateTime(), nullable=True),
        sa.Column('status_reason', sa.Text(), nullable=True),
        sa.Column('sends', sa.Integer(), nullable=False),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id', name='pk_work_orders'),
    )
    op.create_index('ix_work_orders_lead_id', 'work_orders', ['lead_id'])
    op.create_index('ix_work_orders_delivery_next', 'work_orders', ['delivery', 'next_attempt_at'])
    op.create_index('ix_work_orders_remote_id', 'work_orders', ['remote_id'])
    op.create_index('ix_work_orders_item_status', 'work_orders', ['item', 'status'])
    op.create_index('uq_work_orders_live_lead', 'work_orders', ['lead_id'], unique=True,
                    sqlite_where=sa.text("status != 'closed'"), postgresql_where=sa.text("status != 'closed'"))
    op.create_table(
        'order_leads',
        sa.Column('lead_id', sa.String(40), sa.ForeignKey('leads.id', name='fk_order_leads_lead_id'), nullable=False),
        sa.Column('order_id', sa.String(20), sa.ForeignKey('work_orders.id', name='fk_order_leads_order_id'),
                  nullable=False),
        sa.Column('linked_by', sa.String(100), nullable=False),
        sa.Column('linked_at', UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('lead_id', name='pk_order_leads'),
    )
    op.create_index('ix_order_leads_order_id', 'order_leads', ['order_id'])
    op.create_table(
        'order_updates',
        sa.Column('order_id', sa.String(20), sa.ForeignKey('work_orders.id', name='fk_order_updates_order_id'),
                  nullable=False),
        sa.Column('update_id', sa.String(200), nullable=False),
        sa.Column('status', sa.String(16), nullable=False),
        sa.Column('at', UTCDateTime(), nullable=False),
        sa.Column('source', sa.String(16), nullable=False),
        sa.Column('reason', sa.Text(), nullable=True),
        sa.Column('unit', sa.String(200), nullable=True),
        sa.Column('applied', sa.Boolean(), nullable=False),
        sa.Column('received_at', UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('order_id', 'update_id', name='pk_order_updates'),
    )
    op.create_table(
        'order_changes',
        sa.Column('seq', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('order_id', sa.String(20), sa.ForeignKey('work_orders.id', name='fk_order_changes_order_id'),
                  nullable=False),
        sa.Column('at', UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('seq', name='pk_order_changes'),
    )
    op.create_index('ix_order_changes_order_id', 'order_changes', ['order_id'])
    op.create_table(
        'delivery_targets',
        sa.Column('name', sa.String(64), nullable=False),
        sa.Column('failures', sa.Integer(), nullable=False),
        sa.Column('open_until', UTCDateTime(), nullable=True),
        sa.Column('updated_at', UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('name', name='pk_delivery_targets'),
    )


def downgrade() -> None:
    for table in ('delivery_targets', 'order_changes', 'order_updates', 'order_leads', 'work_orders'):
        op.drop_table(table)
