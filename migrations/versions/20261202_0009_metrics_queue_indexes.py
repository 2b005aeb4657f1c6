"""registry and issuer: partial indexes for the queue-depth metrics (docs/operations.md)

``/metrics`` counts, on every scrape, the work still waiting: anchors, revocations and
status-list versions queued or submitted at the registry, and credentials not yet anchored
at the issuer, with the age of the oldest. The existing indexes lead with the account or
issuer, so those counts would read every row ever anchored; these partial indexes hold only
the rows still waiting (a few, in a healthy system), so each count and each oldest-age is a
scan of that small index however large the tables grow.

Revision ID: 0009_metrics_queue_indexes
Revises: 0007_issuer_learners_split
Create Date: 2026-12-02
"""

from alembic import op
import sqlalchemy as sa


revision = '0009_metrics_queue_indexes'
down_revision = '0007_issuer_learners_split'
branch_labels = None
depends_on = None

WAITING = "state IN ('queued', 'submitted')"
UNANCHORED = "anchor_state <> 'anchored'"
INDEXES = [
    ('ix_registry_anchors_waiting', 'registry_anchors', ['state', 'created_at'], WAITING),
    ('ix_registry_revocations_waiting', 'registry_revocations', ['state', 'created_at'], WAITING),
    ('ix_registry_status_lists_waiting', 'registry_status_lists', ['state', 'created_at'], WAITING),
    ('ix_issuer_credentials_unanchored', 'issuer_credentials', ['anchor_state', 'created_at'], UNANCHORED),
]


def upgrade() -> None:
    for name, table, columns, where in INDEXES:
        op.create_index(name, table, columns, sqlite_where=sa.text(where), postgresql_where=sa.text(where))


def downgrade() -> None:
    for name, table, _, _ in INDEXES:
        op.drop_index(name, table_name=table)
