"""issuer: pathways (achievements awarded when their components are held), award jobs, external components

* ``issuer_achievements`` gains ``requires`` (a pathway's requirement, JSON; null otherwise).
* ``issuer_pathway_components``: each element of a pathway's requirement, indexed by component.
* ``issuer_award_jobs``: "look at this learner's pathways", written with the component.
* ``issuer_pathway_awards``: one row per awarded pathway, unique per (issuer, learner, pathway).
* ``issuer_external_credentials``: credentials of other issuers submitted for a learner.

Revision ID: 0011_issuer_pathways
Revises: 0010_due_work
Create Date: 2026-12-02
"""

from alembic import op
import sqlalchemy as sa


revision = '0011_issuer_pathways'
down_revision = '0010_due_work'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('issuer_achievements', schema=None) as batch_op:
        batch_op.add_column(sa.Column('requires', sa.JSON(), nullable=True))
    op.create_table('issuer_pathway_components',
    sa.Column('pathway_id', sa.String(length=40), nullable=False),
    sa.Column('component', sa.String(length=1100), nullable=False),
    sa.Column('issuer_id', sa.String(length=40), nullable=False),
    sa.ForeignKeyConstraint(['pathway_id'], ['issuer_achievements.id'], name=op.f('fk_issuer_pathway_components_pathway_id_issuer_achievements')),
    sa.ForeignKeyConstraint(['issuer_id'], ['issuer_issuers.id'], name=op.f('fk_issuer_pathway_components_issuer_id_issuer_issuers')),
    sa.PrimaryKeyConstraint('pathway_id', 'component', name=op.f('pk_issuer_pathway_components'))
    )
    op.create_index('ix_issuer_pathway_components_component', 'issuer_pathway_components', ['issuer_id', 'component'], unique=False)
    op.create_table('issuer_award_jobs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('issuer_id', sa.String(length=40), nullable=False),
    sa.Column('learner_id', sa.String(length=40), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('lease_holder', sa.String(length=80), nullable=True),
    sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['issuer_id'], ['issuer_issuers.id'], name=op.f('fk_issuer_award_jobs_issuer_id_issuer_issuers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_issuer_award_jobs'))
    )
    op.create_index('ix_issuer_award_jobs_due', 'issuer_award_jobs', ['next_attempt_at'], unique=False)
    op.create_table('issuer_pathway_awards',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('issuer_id', sa.String(length=40), nullable=False),
    sa.Column('learner_id', sa.String(length=40), nullable=False),
    sa.Column('pathway_id', sa.String(length=40), nullable=False),
    sa.Column('credential_id', sa.String(length=64), nullable=False),
    sa.Column('components', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['issuer_id'], ['issuer_issuers.id'], name=op.f('fk_issuer_pathway_awards_issuer_id_issuer_issuers')),
    sa.ForeignKeyConstraint(['pathway_id'], ['issuer_achievements.id'], name=op.f('fk_issuer_pathway_awards_pathway_id_issuer_achievements')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_issuer_pathway_awards')),
    sa.UniqueConstraint('issuer_id', 'learner_id', 'pathway_id', name='uq_issuer_pathway_awards_once')
    )
    op.create_index('ix_issuer_pathway_awards_credential', 'issuer_pathway_awards', ['credential_id'], unique=False)
    op.create_table('issuer_external_credentials',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('issuer_id', sa.String(length=40), nullable=False),
    sa.Column('learner_id', sa.String(length=40), nullable=False),
    sa.Column('document', sa.Text(), nullable=False),
    sa.Column('credential_hash', sa.String(length=66), nullable=False),
    sa.Column('credential_url', sa.String(length=1024), nullable=True),
    sa.Column('issuer_did', sa.String(length=512), nullable=False),
    sa.Column('achievement_url', sa.String(length=1024), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('checked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('next_check_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['issuer_id'], ['issuer_issuers.id'], name=op.f('fk_issuer_external_credentials_issuer_id_issuer_issuers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_issuer_external_credentials')),
    sa.UniqueConstraint('issuer_id', 'learner_id', 'credential_hash', name='uq_issuer_external_credentials_once')
    )
    op.create_index('ix_issuer_external_credentials_learner', 'issuer_external_credentials', ['issuer_id', 'learner_id'], unique=False)
    op.create_index('ix_issuer_external_credentials_check', 'issuer_external_credentials', ['next_check_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_issuer_external_credentials_check', table_name='issuer_external_credentials')
    op.drop_index('ix_issuer_external_credentials_learner', table_name='issuer_external_credentials')
    op.drop_table('issuer_external_credentials')
    op.drop_index('ix_issuer_pathway_awards_credential', table_name='issuer_pathway_awards')
    op.drop_table('issuer_pathway_awards')
    op.drop_index('ix_issuer_award_jobs_due', table_name='issuer_award_jobs')
    op.drop_table('issuer_award_jobs')
    op.drop_index('ix_issuer_pathway_components_component', table_name='issuer_pathway_components')
    op.drop_table('issuer_pathway_components')
    with op.batch_alter_table('issuer_achievements', schema=None) as batch_op:
        batch_op.drop_column('requires')
