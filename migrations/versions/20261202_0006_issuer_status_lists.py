"""issuer: status lists (W3C Bitstring Status List) — stub, tables to follow

Revision ID: 0006_issuer_status_lists
Revises: 0005_status_lists
Create Date: 2026-12-02
"""

from alembic import op
import sqlalchemy as sa


revision = '0006_issuer_status_lists'
down_revision = '0005_status_lists'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
