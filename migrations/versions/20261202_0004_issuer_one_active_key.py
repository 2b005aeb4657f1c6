"""issuer: exactly one active signing key per issuer

A partial unique index on ``issuer_signing_keys (issuer_id) WHERE state = 'active'``, so that
two rotations racing each other can never leave two active keys (the service also retires
with a conditional update and answers 409 to the loser). Issuers left with more than one
active key by such a race before this change keep their newest one active; the older ones
are marked retired at the time of the migration (their on-chain records are untouched: a key
the chain still holds valid stays valid there for what it signed).

Revision ID: 0004_one_active_key
Revises: 0003_key_gating
Create Date: 2026-12-02
"""

from alembic import op
import sqlalchemy as sa


revision = '0004_one_active_key'
down_revision = '0003_key_gating'
branch_labels = None
depends_on = None

INDEX = 'uq_issuer_signing_keys_one_active'


def upgrade() -> None:
    keys = sa.table('issuer_signing_keys', sa.column('id', sa.Integer), sa.column('issuer_id', sa.String),
                    sa.column('state', sa.String), sa.column('retired_at', sa.DateTime(timezone=True)),
                    sa.column('valid_until', sa.DateTime(timezone=True)))
    connection = op.get_bind()
    newest = (sa.select(sa.func.max(keys.c.id)).where(keys.c.state == 'active')
              .group_by(keys.c.issuer_id).scalar_subquery())
    now = sa.func.current_timestamp()
    connection.execute(keys.update().where(keys.c.state == 'active', keys.c.id.not_in(newest))
                       .values(state='retired', retired_at=now, valid_until=now))
    op.create_index(INDEX, 'issuer_signing_keys', ['issuer_id'], unique=True,
                    sqlite_where=sa.text("state = 'active'"), postgresql_where=sa.text("state = 'active'"))


def downgrade() -> None:
    op.drop_index(INDEX, table_name='issuer_signing_keys')
