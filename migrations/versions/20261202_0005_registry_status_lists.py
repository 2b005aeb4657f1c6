"""registry: status list updates

``registry_status_lists``: one row per version of one of an issuer's status lists (list id =
keccak256 of the list credential's URL, hash = its credential hash), unique per (account, list,
version). The worker sets only the newest version of each list on chain (older ones become
``superseded``); ``job_id`` points to the ``status_list`` job that carries it. Job kinds and
states are plain strings, so the new ``status_list`` job kind needs no change to ``registry_jobs``.

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
    op.create_table('registry_status_lists',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('list_id', sa.String(length=66), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.Column('hash', sa.String(length=66), nullable=False),
    sa.Column('state', sa.Enum('queued', 'submitted', 'confirmed', 'superseded', name='status_list_state',
                               native_enum=False, length=20), nullable=False),
    sa.Column('job_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['registry_accounts.id'],
                            name=op.f('fk_registry_status_lists_account_id_registry_accounts')),
    sa.ForeignKeyConstraint(['job_id'], ['registry_jobs.id'], name=op.f('fk_registry_status_lists_job_id_registry_jobs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_registry_status_lists')),
    sa.UniqueConstraint('account_id', 'list_id', 'version',
                        name=op.f('uq_registry_status_lists_account_id'))
    )
    with op.batch_alter_table('registry_status_lists', schema=None) as batch_op:
        batch_op.create_index('ix_registry_status_lists_account_state', ['account_id', 'state'], unique=False)
        batch_op.create_index('ix_registry_status_lists_job', ['job_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('registry_status_lists', schema=None) as batch_op:
        batch_op.drop_index('ix_registry_status_lists_job')
        batch_op.drop_index('ix_registry_status_lists_account_state')
    op.drop_table('registry_status_lists')
