"""issuer tables: issuers, signing keys, API keys, images, achievements, credentials, batches,
idempotency keys, the outbox to the registry, relay leases

Revision ID: 0002_issuer
Revises: 0001_registry
Create Date: 2026-11-22
"""

from alembic import op
import sqlalchemy as sa


revision = '0002_issuer'
down_revision = '0001_registry'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('issuer_issuers',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('slug', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('url', sa.String(length=512), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('logo_url', sa.String(length=1024), nullable=True),
    sa.Column('linkedin_organization_id', sa.String(length=64), nullable=True),
    sa.Column('did', sa.String(length=512), nullable=False),
    sa.Column('registry_state', sa.Enum('pending', 'registering', 'active', name='registry_state', native_enum=False, length=20), nullable=False),
    sa.Column('chain_address', sa.String(length=42), nullable=True),
    sa.Column('chain_id', sa.BigInteger(), nullable=True),
    sa.Column('extra', sa.JSON(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_issuer_issuers')),
    sa.UniqueConstraint('did', name=op.f('uq_issuer_issuers_did')),
    sa.UniqueConstraint('slug', name=op.f('uq_issuer_issuers_slug'))
    )
    op.create_table('issuer_leases',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('holder', sa.String(length=80), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_issuer_leases'))
    )
    op.create_table('issuer_achievements',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('issuer_id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('criteria_narrative', sa.Text(), nullable=True),
    sa.Column('criteria_url', sa.String(length=1024), nullable=True),
    sa.Column('image_url', sa.String(length=1024), nullable=True),
    sa.Column('image_caption', sa.String(length=500), nullable=True),
    sa.Column('achievement_type', sa.String(length=64), nullable=True),
    sa.Column('alignment', sa.JSON(), nullable=False),
    sa.Column('tags', sa.JSON(), nullable=False),
    sa.Column('validity_days', sa.Integer(), nullable=True),
    sa.Column('extra', sa.JSON(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['issuer_id'], ['issuer_issuers.id'], name=op.f('fk_issuer_achievements_issuer_id_issuer_issuers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_issuer_achievements'))
    )
    with op.batch_alter_table('issuer_achievements', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_issuer_achievements_issuer_id'), ['issuer_id'], unique=False)

    op.create_table('issuer_api_keys',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('issuer_id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('prefix', sa.String(length=24), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('scopes', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['issuer_id'], ['issuer_issuers.id'], name=op.f('fk_issuer_api_keys_issuer_id_issuer_issuers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_issuer_api_keys')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_issuer_api_keys_key_hash'))
    )
    with op.batch_alter_table('issuer_api_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_issuer_api_keys_issuer_id'), ['issuer_id'], unique=False)

    op.create_table('issuer_idempotency',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('issuer_id', sa.String(length=40), nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('resource_kind', sa.String(length=20), nullable=False),
    sa.Column('resource_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['issuer_id'], ['issuer_issuers.id'], name=op.f('fk_issuer_idempotency_issuer_id_issuer_issuers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_issuer_idempotency')),
    sa.UniqueConstraint('issuer_id', 'key', name=op.f('uq_issuer_idempotency_issuer_id'))
    )
    op.create_table('issuer_images',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('issuer_id', sa.String(length=40), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('media_type', sa.String(length=32), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['issuer_id'], ['issuer_issuers.id'], name=op.f('fk_issuer_images_issuer_id_issuer_issuers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_issuer_images')),
    sa.UniqueConstraint('issuer_id', 'sha256', name=op.f('uq_issuer_images_issuer_id'))
    )
    with op.batch_alter_table('issuer_images', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_issuer_images_sha256'), ['sha256'], unique=False)

    op.create_table('issuer_outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('issuer_id', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.Enum('register_issuer', 'rotate_key', 'anchor', 'revoke', name='outbox_kind', native_enum=False, length=20), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('state', sa.Enum('pending', 'done', 'failed', name='outbox_state', native_enum=False, length=20), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('done_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['issuer_id'], ['issuer_issuers.id'], name=op.f('fk_issuer_outbox_issuer_id_issuer_issuers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_issuer_outbox'))
    )
    with op.batch_alter_table('issuer_outbox', schema=None) as batch_op:
        batch_op.create_index('ix_issuer_outbox_state_id', ['state', 'id'], unique=False)

    op.create_table('issuer_signing_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('issuer_id', sa.String(length=40), nullable=False),
    sa.Column('public_key', sa.String(length=66), nullable=False),
    sa.Column('multikey', sa.String(length=64), nullable=False),
    sa.Column('sealed_private_key', sa.Text(), nullable=False),
    sa.Column('state', sa.Enum('active', 'retired', name='key_state', native_enum=False, length=20), nullable=False),
    sa.Column('compromised', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('retired_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('valid_until', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['issuer_id'], ['issuer_issuers.id'], name=op.f('fk_issuer_signing_keys_issuer_id_issuer_issuers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_issuer_signing_keys')),
    sa.UniqueConstraint('public_key', name=op.f('uq_issuer_signing_keys_public_key'))
    )
    with op.batch_alter_table('issuer_signing_keys', schema=None) as batch_op:
        batch_op.create_index('ix_issuer_signing_keys_issuer_state', ['issuer_id', 'state'], unique=False)

    op.create_table('issuer_batches',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('issuer_id', sa.String(length=40), nullable=False),
    sa.Column('achievement_id', sa.String(length=40), nullable=False),
    sa.Column('state', sa.Enum('queued', 'running', 'done', name='batch_state', native_enum=False, length=20), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('processed', sa.Integer(), nullable=False),
    sa.Column('issued', sa.Integer(), nullable=False),
    sa.Column('failed', sa.Integer(), nullable=False),
    sa.Column('next_index', sa.Integer(), nullable=False),
    sa.Column('rows', sa.JSON(), nullable=True),
    sa.Column('errors', sa.JSON(), nullable=False),
    sa.Column('options', sa.JSON(), nullable=False),
    sa.Column('lease_holder', sa.String(length=80), nullable=True),
    sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['achievement_id'], ['issuer_achievements.id'], name=op.f('fk_issuer_batches_achievement_id_issuer_achievements')),
    sa.ForeignKeyConstraint(['issuer_id'], ['issuer_issuers.id'], name=op.f('fk_issuer_batches_issuer_id_issuer_issuers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_issuer_batches'))
    )
    with op.batch_alter_table('issuer_batches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_issuer_batches_issuer_id'), ['issuer_id'], unique=False)
        batch_op.create_index('ix_issuer_batches_state', ['state'], unique=False)

    op.create_table('issuer_credentials',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('issuer_id', sa.String(length=40), nullable=False),
    sa.Column('achievement_id', sa.String(length=40), nullable=False),
    sa.Column('signing_key_id', sa.Integer(), nullable=False),
    sa.Column('batch_id', sa.String(length=40), nullable=True),
    sa.Column('batch_row', sa.Integer(), nullable=True),
    sa.Column('document', sa.Text(), nullable=False),
    sa.Column('credential_hash', sa.String(length=66), nullable=False),
    sa.Column('valid_from', sa.DateTime(timezone=True), nullable=False),
    sa.Column('valid_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('anchor_state', sa.Enum('pending', 'queued', 'anchored', name='anchor_state', native_enum=False, length=20), nullable=False),
    sa.Column('anchor_next_poll_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('anchored_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revocation_reason', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['achievement_id'], ['issuer_achievements.id'], name=op.f('fk_issuer_credentials_achievement_id_issuer_achievements')),
    sa.ForeignKeyConstraint(['batch_id'], ['issuer_batches.id'], name=op.f('fk_issuer_credentials_batch_id_issuer_batches')),
    sa.ForeignKeyConstraint(['issuer_id'], ['issuer_issuers.id'], name=op.f('fk_issuer_credentials_issuer_id_issuer_issuers')),
    sa.ForeignKeyConstraint(['signing_key_id'], ['issuer_signing_keys.id'], name=op.f('fk_issuer_credentials_signing_key_id_issuer_signing_keys')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_issuer_credentials')),
    sa.UniqueConstraint('credential_hash', name=op.f('uq_issuer_credentials_credential_hash'))
    )
    with op.batch_alter_table('issuer_credentials', schema=None) as batch_op:
        batch_op.create_index('ix_issuer_credentials_anchor', ['anchor_state', 'issuer_id'], unique=False)
        batch_op.create_index('ix_issuer_credentials_batch', ['batch_id', 'batch_row'], unique=False)
        batch_op.create_index('ix_issuer_credentials_issuer_created', ['issuer_id', 'created_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('issuer_credentials', schema=None) as batch_op:
        batch_op.drop_index('ix_issuer_credentials_issuer_created')
        batch_op.drop_index('ix_issuer_credentials_batch')
        batch_op.drop_index('ix_issuer_credentials_anchor')

    op.drop_table('issuer_credentials')
    with op.batch_alter_table('issuer_batches', schema=None) as batch_op:
        batch_op.drop_index('ix_issuer_batches_state')
        batch_op.drop_index(batch_op.f('ix_issuer_batches_issuer_id'))

    op.drop_table('issuer_batches')
    with op.batch_alter_table('issuer_signing_keys', schema=None) as batch_op:
        batch_op.drop_index('ix_issuer_signing_keys_issuer_state')

    op.drop_table('issuer_signing_keys')
    with op.batch_alter_table('issuer_outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_issuer_outbox_state_id')

    op.drop_table('issuer_outbox')
    with op.batch_alter_table('issuer_images', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_issuer_images_sha256'))

    op.drop_table('issuer_images')
    op.drop_table('issuer_idempotency')
    with op.batch_alter_table('issuer_api_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_issuer_api_keys_issuer_id'))

    op.drop_table('issuer_api_keys')
    with op.batch_alter_table('issuer_achievements', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_issuer_achievements_issuer_id'))

    op.drop_table('issuer_achievements')
    op.drop_table('issuer_leases')
    op.drop_table('issuer_issuers')
