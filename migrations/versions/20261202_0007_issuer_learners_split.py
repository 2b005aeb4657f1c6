"""issuer: learners, achievement levels and skills, renewal links

* ``issuer_learners``: one row per person an issuer knows — ``email_key``, the HMAC-SHA256 of
  the normalised email under the issuer's learner secret (never the address), and an
  optional DID; unique per issuer on each.
* ``issuer_issuers`` gains ``sealed_learner_secret`` (sealed with the key-encryption key, made
  on the issuer's first credential after this change).
* ``issuer_credentials`` gains ``learner_id`` (null for credentials issued before learners:
  nothing is back-filled, as their emails were never kept), and ``replaces`` /
  ``replaced_by`` for renewals.
* ``issuer_achievements`` gains ``level``, ``category``, ``hours`` and ``credits``.

Revision ID: 0007_issuer_learners_split
Revises: 0006_issuer_status_lists
Create Date: 2026-12-02
"""

from alembic import op
import sqlalchemy as sa


revision = '0007_issuer_learners_split'
down_revision = '0006_issuer_status_lists'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('issuer_learners',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('issuer_id', sa.String(length=40), nullable=False),
    sa.Column('email_key', sa.String(length=64), nullable=True),
    sa.Column('did', sa.String(length=512), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['issuer_id'], ['issuer_issuers.id'], name=op.f('fk_issuer_learners_issuer_id_issuer_issuers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_issuer_learners')),
    sa.UniqueConstraint('issuer_id', 'email_key', name='uq_issuer_learners_email_key'),
    sa.UniqueConstraint('issuer_id', 'did', name='uq_issuer_learners_did')
    )
    with op.batch_alter_table('issuer_issuers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sealed_learner_secret', sa.Text(), nullable=True))
    with op.batch_alter_table('issuer_credentials', schema=None) as batch_op:
        batch_op.add_column(sa.Column('learner_id', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('replaces', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('replaced_by', sa.String(length=64), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_issuer_credentials_learner_id_issuer_learners'),
                                    'issuer_learners', ['learner_id'], ['id'])
        batch_op.create_index('ix_issuer_credentials_learner', ['learner_id'], unique=False)
        batch_op.create_index('ix_issuer_credentials_expiry', ['issuer_id', 'valid_until'], unique=False)
    with op.batch_alter_table('issuer_achievements', schema=None) as batch_op:
        batch_op.add_column(sa.Column('level', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('category', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('hours', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('credits', sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('issuer_achievements', schema=None) as batch_op:
        batch_op.drop_column('credits')
        batch_op.drop_column('hours')
        batch_op.drop_column('category')
        batch_op.drop_column('level')
    with op.batch_alter_table('issuer_credentials', schema=None) as batch_op:
        batch_op.drop_index('ix_issuer_credentials_expiry')
        batch_op.drop_index('ix_issuer_credentials_learner')
        batch_op.drop_constraint(batch_op.f('fk_issuer_credentials_learner_id_issuer_learners'), type_='foreignkey')
        batch_op.drop_column('replaced_by')
        batch_op.drop_column('replaces')
        batch_op.drop_column('learner_id')
    with op.batch_alter_table('issuer_issuers', schema=None) as batch_op:
        batch_op.drop_column('sealed_learner_secret')
    op.drop_table('issuer_learners')
