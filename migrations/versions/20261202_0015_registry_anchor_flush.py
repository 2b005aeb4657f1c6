"""registry: anchors queued with ``flush`` (the last of a batch) are cut into a root at once

Revision ID: 0015_registry_anchor_flush
Revises: 0014_webhooks
Create Date: 2026-12-02
"""

from alembic import op
import sqlalchemy as sa


revision = '0015_registry_anchor_flush'
down_revision = '0014_webhooks'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('registry_anchors') as batch:
        batch.add_column(sa.Column('flush', sa.Boolean(), nullable=True, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('registry_anchors') as batch:
        batch.drop_column('flush')
