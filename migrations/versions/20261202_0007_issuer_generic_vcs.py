"""issuer: credentials without an achievement (generic W3C VCs issued through the VC-API)

``POST /credentials/issue`` also signs W3C Verifiable Credentials 2.0 that are not Open Badges
(docs/vc-api.md): they name no achievement, so ``issuer_credentials.achievement_id`` may be
NULL. Every existing row has one and keeps it.

Revision ID: 0007_std_generic_vcs
Revises: 0006_issuer_status_lists
Create Date: 2026-12-02
"""

from alembic import op
import sqlalchemy as sa


revision = '0007_std_generic_vcs'
down_revision = '0006_issuer_status_lists'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('issuer_credentials') as batch:
        batch.alter_column('achievement_id', existing_type=sa.String(40), nullable=True)


def downgrade() -> None:
    # Generic VCs have no achievement to fall back on: downgrading with any of them is refused by the database.
    with op.batch_alter_table('issuer_credentials') as batch:
        batch.alter_column('achievement_id', existing_type=sa.String(40), nullable=False)
