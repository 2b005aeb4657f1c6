"""registry: indexes for the worker's one query for due work

A worker pass asks the database only for what has work: jobs not yet settled, jobs confirmed
inside the re-org window, and accounts with queued anchors, revocations or status-list
versions. These indexes lead with ``state`` so each of those lookups reads only the few rows in
that state, however many issuers, anchors and settled jobs the tables hold
(docs/registry.md, "The worker").

Revision ID: 0007_registry_due_work
Revises: 0006_issuer_status_lists
Create Date: 2026-12-02
"""

from alembic import op


revision = '0007_registry_due_work'
down_revision = '0006_issuer_status_lists'
branch_labels = None
depends_on = None

INDEXES = [
    ('ix_registry_jobs_state_block', 'registry_jobs', ['state', 'block_number']),
    ('ix_registry_anchors_state_account', 'registry_anchors', ['state', 'account_id']),
    ('ix_registry_revocations_state_account', 'registry_revocations', ['state', 'account_id']),
    ('ix_registry_status_lists_state_account', 'registry_status_lists', ['state', 'account_id']),
]


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
