"""issuer: ``issuer_issuers.config_version``, bumped by the database on every change issuing reads

Issuing one credential reads the same few things about its issuer every time: the active
signing key, the achievement, whether it is a pathway's component, the webhook endpoints.
The API process caches them per issuer keyed by this number, which the request's API-key
query reads anyway (docs/issuer.md, "Single issuance"). Triggers bump it in the transaction
of every insert, update or delete of those rows, whatever code writes them, so a rotation, an
achievement made a pathway, a new pathway or endpoint is seen by the very next request in
every process. (Status lists are not watched: issuances open and fill them concurrently, and
the bump's lock on the issuer row deadlocked them on PostgreSQL; their cached copy is checked
by the insert of the entries instead.)

SQLite drops a table's triggers when a batch migration rebuilds it: a later migration that
rebuilds one of these tables must create its triggers again (``tests/integration/test_issuer_config_cache.py``
fails if one is missing).

Revision ID: 0018_issuer_config_version
Revises: 0017_batch_progress_index
Create Date: 2026-12-02
"""

from alembic import op
import sqlalchemy as sa


revision = '0018_issuer_config_version'
down_revision = '0017_batch_progress_index'
branch_labels = None
depends_on = None

WATCHED = ('issuer_signing_keys', 'issuer_achievements', 'issuer_pathway_components', 'issuer_webhook_endpoints')
BUMP = "UPDATE issuer_issuers SET config_version = config_version + 1 WHERE id = {row}.issuer_id"


def trigger_names() -> list[str]:
    return [f'{table}_bump_{op_}' for table in WATCHED for op_ in ('insert', 'update', 'delete')]


def upgrade() -> None:
    with op.batch_alter_table('issuer_issuers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('config_version', sa.BigInteger(), nullable=False, server_default='0'))
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("""
            CREATE FUNCTION issuer_bump_config_version() RETURNS trigger AS $$
            BEGIN
                IF TG_OP = 'DELETE' THEN
                    UPDATE issuer_issuers SET config_version = config_version + 1 WHERE id = OLD.issuer_id;
                    RETURN OLD;
                END IF;
                UPDATE issuer_issuers SET config_version = config_version + 1 WHERE id = NEW.issuer_id;
                RETURN NEW;
            END $$ LANGUAGE plpgsql""")
    for table in WATCHED:
        for op_, row in (('insert', 'NEW'), ('update', 'NEW'), ('delete', 'OLD')):
            event = op_.upper()
            name = f'{table}_bump_{op_}'
            if op.get_bind().dialect.name == 'postgresql':
                op.execute(f"CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW "
                           f"EXECUTE FUNCTION issuer_bump_config_version()")
            else:
                op.execute(f"CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW "
                           f"BEGIN {BUMP.format(row=row)}; END")


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == 'postgresql'
    for table in WATCHED:
        for op_ in ('insert', 'update', 'delete'):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_bump_{op_}" + (f" ON {table}" if postgresql else ""))
    if postgresql:
        op.execute("DROP FUNCTION IF EXISTS issuer_bump_config_version()")
    with op.batch_alter_table('issuer_issuers', schema=None) as batch_op:
        batch_op.drop_column('config_version')
