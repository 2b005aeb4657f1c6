"""issuer: learners' public profiles (docs/learners.md, "The profile")

* ``issuer_learner_profiles``: one row per learner who shares a profile, keyed by the random
  profile id of its URL; unique per (issuer, learner); withdrawing deletes the row.

Revision ID: 0012_issuer_learner_profiles
Revises: 0011_issuer_pathways
Create Date: 2026-12-02
"""

from alembic import op
import sqlalchemy as sa


revision = '0012_issuer_learner_profiles'
down_revision = '0011_issuer_pathways'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('issuer_learner_profiles',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('issuer_id', sa.String(length=40), nullable=False),
    sa.Column('learner_id', sa.String(length=40), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['issuer_id'], ['issuer_issuers.id'], name=op.f('fk_issuer_learner_profiles_issuer_id_issuer_issuers')),
    sa.ForeignKeyConstraint(['learner_id'], ['issuer_learners.id'], name=op.f('fk_issuer_learner_profiles_learner_id_issuer_learners')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_issuer_learner_profiles')),
    sa.UniqueConstraint('issuer_id', 'learner_id', name='uq_issuer_learner_profiles_one')
    )


def downgrade() -> None:
    op.drop_table('issuer_learner_profiles')
