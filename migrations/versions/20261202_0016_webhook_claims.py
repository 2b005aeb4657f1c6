"""issuer: webhook delivery claims and retention (docs/webhooks.md)

* ``issuer_webhook_deliveries.claimed_by`` / ``claimed_until``: the deliverer sending a delivery
  and until when no other may take it (one attempt's deadline plus a margin).
* indexes on ``created_at`` of deliveries and events, for the retention prune.

Revision ID: 0016_webhook_claims
Revises: 0015_registry_anchor_flush
Create Date: 2026-12-02
"""

from alembic import op
import sqlalchemy as sa


revision = '0016_webhook_claims'
down_revision = '0015_registry_anchor_flush'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('issuer_webhook_deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claimed_by', sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column('claimed_until', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_issuer_webhook_deliveries_created', ['created_at'], unique=False)
    with op.batch_alter_table('issuer_webhook_events', schema=None) as batch_op:
        batch_op.create_index('ix_issuer_webhook_events_created', ['created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('issuer_webhook_events', schema=None) as batch_op:
        batch_op.drop_index('ix_issuer_webhook_events_created')
    with op.batch_alter_table('issuer_webhook_deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_issuer_webhook_deliveries_created')
        batch_op.drop_column('claimed_until')
        batch_op.drop_column('claimed_by')
