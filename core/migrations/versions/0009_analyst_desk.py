"""The analyst desk: triage fields on leads (item, SLA clock, review lock, rejection, what
analysts confirmed), who placed a post, lead separations, users, API tokens, web sessions,
decisions as labels, SLA breaches; indexes for the queue and the audit log

Revision ID: 0009_analyst_desk
Revises: 0008_lead_tallies
Create Date: 2026-12-04 15:10:00
"""
from alembic import op
import sqlalchemy as sa

from core.store.tables import UTCDateTime

revision = '0009_analyst_desk'
down_revision = '0008_lead_tallies'
branch_labels = None
depends_on = None

LEAD_COLUMNS = [
    ('item', sa.String(16)), ('detected_at', UTCDateTime()), ('sla_due_at', UTCDateTime()),
    ('dispatch_minutes', sa.Integer()), ('resolution_hours', sa.Integer()), ('claimed_by', sa.String(100)),
    ('claim_expires_at', UTCDateTime()), ('reject_reason', sa.String(32)), ('rejected_post_count', sa.Integer()),
    ('review_reason', sa.Text()), ('dispatched_at', UTCDateTime()), ('confirmed', sa.JSON()),
]


def upgrade() -> None:
    with op.batch_alter_table('leads') as batch:
        for name, type_ in LEAD_COLUMNS:
            batch.add_column(sa.Column(name, type_, nullable=True))
    op.create_index('ix_leads_status_priority', 'leads', ['status', 'priority'])
    op.create_index('ix_leads_district_status_priority', 'leads', ['district', 'status', 'priority'])
    op.create_index('ix_leads_status_sla', 'leads', ['status', 'sla_due_at'])
    with op.batch_alter_table('lead_posts') as batch:
        batch.add_column(sa.Column('placed_by', sa.String(100), nullable=True))
    op.create_index('ix_lead_events_at', 'lead_events', ['at'])
    op.create_index('ix_lead_events_actor_at', 'lead_events', ['actor', 'at'])
    op.create_table(
        'lead_separations',
        sa.Column('lead_a', sa.String(40), nullable=False),
        sa.Column('lead_b', sa.String(40), nullable=False),
        sa.Column('created_by', sa.String(100), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('lead_a', 'lead_b', name='pk_lead_separations'),
    )
    op.create_table(
        'users',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('username', sa.String(64), nullable=False),
        sa.Column('display_name', sa.String(100), nullable=False),
        sa.Column('role', sa.String(16), nullable=False),
        sa.Column('districts', sa.JSON(), nullable=False),
        sa.Column('password_hash', sa.String(200), nullable=True),
        sa.Column('disabled', sa.Boolean(), nullable=False),
        sa.Column('failed_logins', sa.Integer(), nullable=False),
        sa.Column('locked_until', UTCDateTime(), nullable=True),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('last_login_at', UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id', name='pk_users'),
        sa.UniqueConstraint('username'),
    )
    op.create_table(
        'api_tokens',
        sa.Column('id', sa.String(32), nullable=False),
        sa.Column('user_id', sa.Integer(), sa.ForeignKey('users.id', name='fk_api_tokens_user_id'), nullable=False),
        sa.Column('name', sa.String(100), nullable=False),
        sa.Column('token_hash', sa.String(200), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('last_used_at', UTCDateTime(), nullable=True),
        sa.Column('revoked', sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint('id', name='pk_api_tokens'),
    )
    op.create_table(
        'web_sessions',
        sa.Column('token_hash', sa.String(64), nullable=False),
        sa.Column('user_id', sa.Integer(), sa.ForeignKey('users.id', name='fk_web_sessions_user_id'),
                  nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('expires_at', UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('token_hash', name='pk_web_sessions'),
    )
    op.create_index('ix_web_sessions_user_id', 'web_sessions', ['user_id'])
    op.create_table(
        'triage_labels',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('lead_id', sa.String(40), nullable=False),
        sa.Column('action', sa.String(32), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('model', sa.JSON(), nullable=False),
        sa.Column('decision', sa.JSON(), nullable=False),
        sa.Column('model_version', sa.String(100), nullable=True),
        sa.Column('actor', sa.String(100), nullable=False),
        sa.Column('at', UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name='pk_triage_labels'),
    )
    op.create_index('ix_triage_labels_at', 'triage_labels', ['at'])
    op.create_table(
        'sla_breaches',
        sa.Column('lead_id', sa.String(40), nullable=False),
        sa.Column('due_at', UTCDateTime(), nullable=False),
        sa.Column('recorded_at', UTCDateTime(), nullable=False),
        sa.Column('status', sa.String(16), nullable=False),
        sa.Column('category', sa.String(100), nullable=True),
        sa.Column('district', sa.String(100), nullable=True),
        sa.Column('urgent', sa.Boolean(), nullable=False),
        sa.Column('claimed_by', sa.String(100), nullable=True),
        sa.PrimaryKeyConstraint('lead_id', name='pk_sla_breaches'),
    )
    op.create_index('ix_sla_breaches_due_at', 'sla_breaches', ['due_at'])


def downgrade() -> None:
    for table in ('sla_breaches', 'triage_labels', 'web_sessions', 'api_tokens', 'users', 'lead_separations'):
        op.drop_table(table)
    op.drop_index('ix_lead_events_actor_at', 'lead_events')
    op.drop_index('ix_lead_events_at', 'lead_events')
    with op.batch_alter_table('lead_posts') as batch:
        batch.drop_column('placed_by')
    for name in ('ix_leads_status_sla', 'ix_leads_district_status_priority', 'ix_leads_status_priority'):
        op.drop_index(name, 'leads')
    with op.batch_alter_table('leads') as batch:
        for name, _ in reversed(LEAD_COLUMNS):
            batch.drop_column(name)
