"""issuer: webhooks (docs/webhooks.md)

* ``issuer_webhook_endpoints``: a partner's URL, the events it wants, its secret sealed.
* ``issuer_webhook_events``: each event's stable id and exact body, written with its cause.
* ``issuer_webhook_deliveries``: one per event and endpoint, the delivery log; partial indexes hold
  only those still pending, or failed (the deliverer's and /metrics' queries).

Revision ID: 0014_webhooks
Revises: 0013_issuer_endorsements
Create Date: 2026-12-02
"""

from alembic import op
import sqlalchemy as sa



revision = '0014_webhooks'
down_revision = '0013_issuer_endorsements'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('issuer_webhook_endpoints',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('issuer_id', sa.String(length=40), nullable=False),
    sa.Column('url', sa.String(length=2048), nullable=False),
    sa.Column('events', sa.JSON(), nullable=False),
    sa.Column('sealed_secret', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['issuer_id'], ['issuer_issuers.id'], name=op.f('fk_issuer_webhook_endpoints_issuer_id_issuer_issuers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_issuer_webhook_endpoints'))
    )
    with op.batch_alter_table('issuer_webhook_endpoints', schema=None) as batch_op:
        batch_op.create_index('ix_issuer_webhook_endpoints_issuer', ['issuer_id'], unique=False)

    op.create_table('issuer_webhook_events',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('issuer_id', sa.String(length=40), nullable=False),
    sa.Column('type', sa.String(length=40), nullable=False),
    sa.Column('subject_id', sa.String(length=64), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['issuer_id'], ['issuer_issuers.id'], name=op.f('fk_issuer_webhook_events_issuer_id_issuer_issuers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_issuer_webhook_events'))
    )
    op.create_table('issuer_webhook_deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('endpoint_id', sa.String(length=40), nullable=False),
    sa.Column('issuer_id', sa.String(length=40), nullable=False),
    sa.Column('event_id', sa.String(length=40), nullable=False),
    sa.Column('subject_id', sa.String(length=64), nullable=False),
    sa.Column('state', sa.Enum('pending', 'delivered', 'failed', name='webhook_state', native_enum=False, length=20), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_status_code', sa.Integer(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('last_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['endpoint_id'], ['issuer_webhook_endpoints.id'], name=op.f('fk_issuer_webhook_deliveries_endpoint_id_issuer_webhook_endpoints')),
    sa.ForeignKeyConstraint(['event_id'], ['issuer_webhook_events.id'], name=op.f('fk_issuer_webhook_deliveries_event_id_issuer_webhook_events')),
    sa.ForeignKeyConstraint(['issuer_id'], ['issuer_issuers.id'], name=op.f('fk_issuer_webhook_deliveries_issuer_id_issuer_issuers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_issuer_webhook_deliveries'))
    )
    with op.batch_alter_table('issuer_webhook_deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_issuer_webhook_deliveries_endpoint', ['endpoint_id', 'id'], unique=False)
        batch_op.create_index('ix_issuer_webhook_deliveries_pending', ['endpoint_id', 'subject_id', 'id'], unique=False, sqlite_where=sa.text("state = 'pending'"), postgresql_where=sa.text("state = 'pending'"))
        batch_op.create_index('ix_issuer_webhook_deliveries_due', ['next_attempt_at'], unique=False, sqlite_where=sa.text("state = 'pending'"), postgresql_where=sa.text("state = 'pending'"))
        batch_op.create_index('ix_issuer_webhook_deliveries_failed', ['created_at'], unique=False, sqlite_where=sa.text("state = 'failed'"), postgresql_where=sa.text("state = 'failed'"))



def downgrade() -> None:
    with op.batch_alter_table('issuer_webhook_deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_issuer_webhook_deliveries_failed', sqlite_where=sa.text("state = 'failed'"), postgresql_where=sa.text("state = 'failed'"))
        batch_op.drop_index('ix_issuer_webhook_deliveries_due', sqlite_where=sa.text("state = 'pending'"), postgresql_where=sa.text("state = 'pending'"))
        batch_op.drop_index('ix_issuer_webhook_deliveries_pending', sqlite_where=sa.text("state = 'pending'"), postgresql_where=sa.text("state = 'pending'"))
        batch_op.drop_index('ix_issuer_webhook_deliveries_endpoint')

    op.drop_table('issuer_webhook_deliveries')
    op.drop_table('issuer_webhook_events')
    with op.batch_alter_table('issuer_webhook_endpoints', schema=None) as batch_op:
        batch_op.drop_index('ix_issuer_webhook_endpoints_issuer')

    op.drop_table('issuer_webhook_endpoints')
