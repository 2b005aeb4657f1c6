"""issuer: the batch index carries the anchor state, so a batch's progress is counted from the index alone

``ix_issuer_credentials_batch`` on ``(batch_id, batch_row)`` becomes ``(batch_id, batch_row,
anchor_state)``: ``GET /api/v1/credentials/batches/{id}`` counts the anchored credentials of the
batch without reading 10,000 rows of documents (≈ 30 ms a poll before). Listing a batch's
credentials in row order uses it as before.

Revision ID: 0017_batch_progress_index
Revises: 0016_webhook_claims
Create Date: 2026-12-02
"""

from alembic import op


revision = '0017_batch_progress_index'
down_revision = '0016_webhook_claims'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('issuer_credentials', schema=None) as batch_op:
        batch_op.drop_index('ix_issuer_credentials_batch')
        batch_op.create_index('ix_issuer_credentials_batch', ['batch_id', 'batch_row', 'anchor_state'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('issuer_credentials', schema=None) as batch_op:
        batch_op.drop_index('ix_issuer_credentials_batch')
        batch_op.create_index('ix_issuer_credentials_batch', ['batch_id', 'batch_row'], unique=False)
