"""registry tables

Revision ID: 0001_registry
Revises: 
Create Date: 2026-11-22
"""

from alembic import op
import sqlalchemy as sa


revision = '0001_registry'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('registry_accounts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('issuer_id', sa.String(length=64), nullable=False),
    sa.Column('did', sa.String(length=512), nullable=False),
    sa.Column('address', sa.String(length=42), nullable=False),
    sa.Column('sealed_key', sa.Text(), nullable=False),
    sa.Column('public_key', sa.String(length=66), nullable=False),
    sa.Column('state', sa.Enum('registering', 'active', name='account_state', native_enum=False, length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_registry_accounts')),
    sa.UniqueConstraint('address', name=op.f('uq_registry_accounts_address')),
    sa.UniqueConstraint('issuer_id', name=op.f('uq_registry_accounts_issuer_id'))
    )
    op.create_table('registry_jobs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sender', sa.String(length=42), nullable=False),
    sa.Column('kind', sa.Enum('fund', 'register_issuer', 'add_key', 'retire_key', 'anchor', 'revoke', name='job_kind', native_enum=False, length=20), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('state', sa.Enum('pending', 'sent', 'mined', 'confirmed', 'failed', name='job_state', native_enum=False, length=20), nullable=False),
    sa.Column('root', sa.String(length=66), nullable=True),
    sa.Column('nonce', sa.BigInteger(), nullable=True),
    sa.Column('tx_hash', sa.String(length=66), nullable=True),
    sa.Column('raw_tx', sa.Text(), nullable=True),
    sa.Column('block_number', sa.BigInteger(), nullable=True),
    sa.Column('block_hash', sa.String(length=66), nullable=True),
    sa.Column('block_time', sa.DateTime(timezone=True), nullable=True),
    sa.Column('gas_used', sa.BigInteger(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_registry_jobs')),
    sa.UniqueConstraint('root', name=op.f('uq_registry_jobs_root'))
    )
    with op.batch_alter_table('registry_jobs', schema=None) as batch_op:
        batch_op.create_index('ix_registry_jobs_sender_state', ['sender', 'state'], unique=False)

    op.create_table('registry_leases',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('holder', sa.String(length=64), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_registry_leases'))
    )
    op.create_table('registry_anchors',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('hash', sa.String(length=66), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('state', sa.Enum('queued', 'submitted', 'confirmed', name='item_state', native_enum=False, length=20), nullable=False),
    sa.Column('job_id', sa.Integer(), nullable=True),
    sa.Column('proof', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['registry_accounts.id'], name=op.f('fk_registry_anchors_account_id_registry_accounts')),
    sa.ForeignKeyConstraint(['job_id'], ['registry_jobs.id'], name=op.f('fk_registry_anchors_job_id_registry_jobs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_registry_anchors')),
    sa.UniqueConstraint('hash', name=op.f('uq_registry_anchors_hash'))
    )
    with op.batch_alter_table('registry_anchors', schema=None) as batch_op:
        batch_op.create_index('ix_registry_anchors_account_state', ['account_id', 'state'], unique=False)
        batch_op.create_index('ix_registry_anchors_job', ['job_id'], unique=False)

    op.create_table('registry_revocations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('hash', sa.String(length=66), nullable=False),
    sa.Column('state', sa.Enum('queued', 'submitted', 'confirmed', name='item_state', native_enum=False, length=20), nullable=False),
    sa.Column('job_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['registry_accounts.id'], name=op.f('fk_registry_revocations_account_id_registry_accounts')),
    sa.ForeignKeyConstraint(['job_id'], ['registry_jobs.id'], name=op.f('fk_registry_revocations_job_id_registry_jobs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_registry_revocations')),
    sa.UniqueConstraint('account_id', 'hash', name=op.f('uq_registry_revocations_account_id'))
    )
    with op.batch_alter_table('registry_revocations', schema=None) as batch_op:
        batch_op.create_index('ix_registry_revocations_account_state', ['account_id', 'state'], unique=False)
        batch_op.create_index('ix_registry_revocations_job', ['job_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('registry_revocations', schema=None) as batch_op:
        batch_op.drop_index('ix_registry_revocations_job')
        batch_op.drop_index('ix_registry_revocations_account_state')

    op.drop_table('registry_revocations')
    with op.batch_alter_table('registry_anchors', schema=None) as batch_op:
        batch_op.drop_index('ix_registry_anchors_job')
        batch_op.drop_index('ix_registry_anchors_account_state')

    op.drop_table('registry_anchors')
    op.drop_table('registry_leases')
    with op.batch_alter_table('registry_jobs', schema=None) as batch_op:
        batch_op.drop_index('ix_registry_jobs_sender_state')

    op.drop_table('registry_jobs')
    op.drop_table('registry_accounts')
