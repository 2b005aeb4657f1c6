"""registry: anchors wait for their signing key; key jobs in order; failed jobs are loud

* ``registry_anchors.public_key``: the Ed25519 key that signed a queued hash (batched only once
  that key's registerIssuer / addKey is confirmed for the account; NULL = not gated).
* ``registry_jobs.subject``: the issuer account an owner job is about (backfilled from the
  payloads of fund / register_issuer / add_key / retire_key jobs).
* ``registry_jobs.failed_at`` and ``acknowledged_at``: when a job was refused for good, and when
  an operator acknowledged it (health stays red until then). Failed jobs from before count as
  already acknowledged: nobody was told to look at them.

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
    with op.batch_alter_table('registry_jobs') as batch_op:
        batch_op.add_column(sa.Column('subject', sa.String(length=42), nullable=True))
        batch_op.add_column(sa.Column('failed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('acknowledged_at', sa.DateTime(timezone=True), nullable=True))
    op.create_index('ix_registry_jobs_subject', 'registry_jobs', ['subject'], unique=False)
    op.create_index('ix_registry_jobs_state_failed_at', 'registry_jobs', ['state', 'failed_at'], unique=False)

    jobs = sa.table('registry_jobs', sa.column('id', sa.Integer), sa.column('kind', sa.String),
                    sa.column('payload', sa.JSON), sa.column('state', sa.String),
                    sa.column('subject', sa.String), sa.column('created_at', sa.DateTime(timezone=True)),
                    sa.column('failed_at', sa.DateTime(timezone=True)),
                    sa.column('acknowledged_at', sa.DateTime(timezone=True)))
    bind = op.get_bind()
    rows = bind.execute(sa.select(jobs.c.id, jobs.c.kind, jobs.c.payload)
                        .where(jobs.c.kind.in_(['fund', 'register_issuer', 'add_key', 'retire_key']))).all()
    for job_id, kind, payload in rows:
        payload = payload or {}
        subject = payload.get('to') if kind == 'fund' else payload.get('account')
        if subject:
            bind.execute(jobs.update().where(jobs.c.id == job_id).values(subject=subject))
    bind.execute(jobs.update().where(jobs.c.state == 'failed')
                 .values(failed_at=jobs.c.created_at, acknowledged_at=jobs.c.created_at))


def downgrade() -> None:
    op.drop_index('ix_registry_jobs_state_failed_at', table_name='registry_jobs')
    op.drop_index('ix_registry_jobs_subject', table_name='registry_jobs')
    with op.batch_alter_table('registry_jobs') as batch_op:
        batch_op.drop_column('acknowledged_at')
        batch_op.drop_column('failed_at')
        batch_op.drop_column('subject')
    with op.batch_alter_table('registry_anchors') as batch_op:
        batch_op.drop_column('public_key')
