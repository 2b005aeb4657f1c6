"""issuer: endorsers (organisations of kind endorser) and endorsements (docs/endorsements.md)

* ``issuer_issuers`` gains ``kind`` (``issuer`` | ``endorser``); every existing row is an issuer.
* ``issuer_endorsements``: an endorsement credential (same id as its ``issuer_credentials`` row),
  its endorser, and what it endorses: an achievement or an issuer; ``standing`` until it is revoked,
  and at most one standing endorsement per endorser and subject (partial unique indexes).

Revision ID: 0013_issuer_endorsements
Revises: 0012_issuer_learner_profiles
Create Date: 2026-12-02
"""

from alembic import op
import sqlalchemy as sa


revision = '0013_issuer_endorsements'
down_revision = '0012_issuer_learner_profiles'
branch_labels = None
depends_on = None

STANDING_ACHIEVEMENT = "standing AND achievement_id IS NOT NULL"
STANDING_ISSUER = "standing AND subject_issuer_id IS NOT NULL"


def upgrade() -> None:
    with op.batch_alter_table('issuer_issuers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.Enum('issuer', 'endorser', name='organisation_kind', native_enum=False,
                                                      length=20), server_default='issuer', nullable=False))
    op.create_table('issuer_endorsements',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('endorser_id', sa.String(length=40), nullable=False),
    sa.Column('achievement_id', sa.String(length=40), nullable=True),
    sa.Column('subject_issuer_id', sa.String(length=40), nullable=True),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('standing', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['id'], ['issuer_credentials.id'], name=op.f('fk_issuer_endorsements_id_issuer_credentials')),
    sa.ForeignKeyConstraint(['endorser_id'], ['issuer_issuers.id'], name=op.f('fk_issuer_endorsements_endorser_id_issuer_issuers')),
    sa.ForeignKeyConstraint(['achievement_id'], ['issuer_achievements.id'], name=op.f('fk_issuer_endorsements_achievement_id_issuer_achievements')),
    sa.ForeignKeyConstraint(['subject_issuer_id'], ['issuer_issuers.id'], name=op.f('fk_issuer_endorsements_subject_issuer_id_issuer_issuers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_issuer_endorsements'))
    )
    op.create_index('ix_issuer_endorsements_achievement', 'issuer_endorsements', ['achievement_id', 'created_at'], unique=False)
    op.create_index('ix_issuer_endorsements_subject_issuer', 'issuer_endorsements', ['subject_issuer_id', 'created_at'], unique=False)
    op.create_index('ix_issuer_endorsements_endorser', 'issuer_endorsements', ['endorser_id', 'created_at'], unique=False)
    op.create_index('uq_issuer_endorsements_standing_achievement', 'issuer_endorsements',
                    ['endorser_id', 'achievement_id'], unique=True,
                    sqlite_where=sa.text(STANDING_ACHIEVEMENT), postgresql_where=sa.text(STANDING_ACHIEVEMENT))
    op.create_index('uq_issuer_endorsements_standing_issuer', 'issuer_endorsements',
                    ['endorser_id', 'subject_issuer_id'], unique=True,
                    sqlite_where=sa.text(STANDING_ISSUER), postgresql_where=sa.text(STANDING_ISSUER))


def downgrade() -> None:
    op.drop_index('uq_issuer_endorsements_standing_issuer', table_name='issuer_endorsements')
    op.drop_index('uq_issuer_endorsements_standing_achievement', table_name='issuer_endorsements')
    op.drop_index('ix_issuer_endorsements_endorser', table_name='issuer_endorsements')
    op.drop_index('ix_issuer_endorsements_subject_issuer', table_name='issuer_endorsements')
    op.drop_index('ix_issuer_endorsements_achievement', table_name='issuer_endorsements')
    op.drop_table('issuer_endorsements')
    with op.batch_alter_table('issuer_issuers', schema=None) as batch_op:
        batch_op.drop_column('kind')
