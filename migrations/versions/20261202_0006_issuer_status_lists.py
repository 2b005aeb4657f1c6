"""issuer: W3C Bitstring Status Lists (revocation and suspension)

* ``issuer_status_lists``: one row per list of an issuer (purpose ``revocation`` or
  ``suspension``, number 1, 2, …), its URL and on-chain id (keccak256 of the URL), how many
  indices it hands out, whether it is full, a change counter bumped in the same transaction
  as every change, and the newest published version.
* ``issuer_status_entries``: the index each credential got in a list, unique per
  (list, index), and whether its bit is set.
* ``issuer_status_list_versions``: every signed version of every list, kept for ever.
* ``issuer_credentials`` gains ``suspended_at`` and ``suspension_reason``.

Credentials issued before keep their old ``credentialStatus`` and have no entries; nothing
is back-filled. The new outbox kind ``status_list`` is a plain string (no schema change).

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
    op.create_table('issuer_status_lists',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('issuer_id', sa.String(length=40), nullable=False),
    sa.Column('purpose', sa.String(length=20), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('url', sa.String(length=1024), nullable=False),
    sa.Column('list_id', sa.String(length=66), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=False),
    sa.Column('full', sa.Boolean(), nullable=False),
    sa.Column('changes', sa.BigInteger(), nullable=False),
    sa.Column('published_changes', sa.BigInteger(), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['issuer_id'], ['issuer_issuers.id'],
                            name=op.f('fk_issuer_status_lists_issuer_id_issuer_issuers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_issuer_status_lists')),
    sa.UniqueConstraint('issuer_id', 'purpose', 'number', name=op.f('uq_issuer_status_lists_issuer_id'))
    )
    with op.batch_alter_table('issuer_status_lists', schema=None) as batch_op:
        batch_op.create_index('ix_issuer_status_lists_pending', ['issuer_id', 'purpose', 'full'], unique=False)

    op.create_table('issuer_status_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('status_list_id', sa.Integer(), nullable=False),
    sa.Column('index', sa.Integer(), nullable=False),
    sa.Column('credential_id', sa.String(length=64), nullable=False),
    sa.Column('is_set', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['status_list_id'], ['issuer_status_lists.id'],
                            name=op.f('fk_issuer_status_entries_status_list_id_issuer_status_lists')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_issuer_status_entries')),
    sa.UniqueConstraint('status_list_id', 'index', name=op.f('uq_issuer_status_entries_status_list_id'))
    )
    with op.batch_alter_table('issuer_status_entries', schema=None) as batch_op:
        batch_op.create_index('ix_issuer_status_entries_credential', ['credential_id'], unique=False)
        batch_op.create_index('ix_issuer_status_entries_set', ['status_list_id', 'is_set'], unique=False)

    op.create_table('issuer_status_list_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('status_list_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.Column('hash', sa.String(length=66), nullable=False),
    sa.Column('document', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['status_list_id'], ['issuer_status_lists.id'],
                            name=op.f('fk_issuer_status_list_versions_status_list_id_issuer_status_lists')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_issuer_status_list_versions')),
    sa.UniqueConstraint('status_list_id', 'version', name=op.f('uq_issuer_status_list_versions_status_list_id'))
    )
    with op.batch_alter_table('issuer_status_list_versions', schema=None) as batch_op:
        batch_op.create_index('ix_issuer_status_list_versions_hash', ['status_list_id', 'hash'], unique=False)

    with op.batch_alter_table('issuer_credentials', schema=None) as batch_op:
        batch_op.add_column(sa.Column('suspended_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('suspension_reason', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('issuer_credentials', schema=None) as batch_op:
        batch_op.drop_column('suspension_reason')
        batch_op.drop_column('suspended_at')
    with op.batch_alter_table('issuer_status_list_versions', schema=None) as batch_op:
        batch_op.drop_index('ix_issuer_status_list_versions_hash')
    op.drop_table('issuer_status_list_versions')
    with op.batch_alter_table('issuer_status_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_issuer_status_entries_set')
        batch_op.drop_index('ix_issuer_status_entries_credential')
    op.drop_table('issuer_status_entries')
    with op.batch_alter_table('issuer_status_lists', schema=None) as batch_op:
        batch_op.drop_index('ix_issuer_status_lists_pending')
    op.drop_table('issuer_status_lists')
