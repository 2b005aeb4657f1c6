"""registry and issuer: indexes for the one query for due work of the worker and the relay

A registry worker pass asks the database only for what has work: jobs not yet settled, jobs
confirmed inside the re-org window, and accounts with queued anchors, revocations or
status-list versions. These indexes lead with ``state`` so each of those lookups reads only the
few rows in that state, however many issuers, anchors and settled jobs the tables hold
(docs/registry.md, "What doing nothing costs"). The issuer's outbox relay does the same
(docs/issuer.md, "The outbox and the anchors"): issuers whose registration it still follows, and
status lists with unpublished changes (a partial index: only those rows are in it).

Revision ID: 0010_due_work
Revises: 0009_metrics_queue_indexes
Create Date: 2026-12-02
"""

from alembic import op
import sqlalchemy as sa


revision = '0010_due_work'
down_revision = '0009_metrics_queue_indexes'
branch_labels = None
depends_on = None

INDEXES = [
    ('ix_registry_jobs_state_block', 'registry_jobs', ['state', 'block_number']),
    ('ix_registry_anchors_state_account', 'registry_anchors', ['state', 'account_id']),
    ('ix_registry_revocations_state_account', 'registry_revocations', ['state', 'account_id']),
    ('ix_registry_status_lists_state_account', 'registry_status_lists', ['state', 'account_id']),
    ('ix_issuer_issuers_registry_state', 'issuer_issuers', ['registry_state', 'chain_id']),
]
UNPUBLISHED = sa.text('changes > published_changes')


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)
    op.create_index('ix_issuer_status_lists_unpublished', 'issuer_status_lists', ['published_at'],
                    sqlite_where=UNPUBLISHED, postgresql_where=UNPUBLISHED)


def downgrade() -> None:
    op.drop_index('ix_issuer_status_lists_unpublished', table_name='issuer_status_lists')
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
