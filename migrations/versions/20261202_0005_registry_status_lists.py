"""registry: status list updates (stub, filled in below as the table is settled)

Revision ID: 0005_status_lists
Revises: 0004_one_active_key
Create Date: 2026-12-02
"""

from alembic import op
import sqlalchemy as sa


revision = '0005_status_lists'
down_revision = '0004_one_active_key'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
