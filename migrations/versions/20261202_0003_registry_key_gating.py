"""registry: anchors wait for their signing key (public_key per queued hash)

Revision ID: 0003_key_gating
Revises: 0002_issuer
Create Date: 2026-12-02
"""

from alembic import op
import sqlalchemy as sa


revision = '0003_key_gating'
down_revision = '0002_issuer'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('registry_anchors') as batch_op:
        batch_op.add_column(sa.Column('public_key', sa.String(length=66), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('registry_anchors') as batch_op:
        batch_op.drop_column('public_key')
