"""desks serve one visitor and one clerk at a time, and the services they serve

A partial unique index keeps one called ticket per desk and day, so that two calls to one
desk can never both succeed; `desk_claim` says which clerk works at a desk (one clerk a
desk, one desk a clerk in an office); `desk_service` the services a desk serves (none: all),
with the triggers that raise the office's page version when it changes
(consular/models/page_versions.py). New tables and an index only: no table the triggers
watch is rebuilt (SQLite's batch mode would drop their triggers).

Revision ID: 1483cfc41ad2
Revises: b4e8f1a2c6d9
Create Date: 2026-12-02 18:38:04.013645

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '1483cfc41ad2'
down_revision = 'b4e8f1a2c6d9'
branch_labels = None
depends_on = None

CALLED_AT_DESK = "status = 'called'"

# What consular.models.page_versions.trigger_statements() gave for desk_service.
TRIGGERS = {
    'postgresql': [
        'CREATE FUNCTION raise_page_versions_of_desk_service() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO office_page_version (office_id, version) SELECT t.office, 1 FROM (SELECT d.office_id AS office FROM desk d WHERE d.id = OLD.desk_id UNION SELECT d.office_id AS office FROM desk d WHERE d.id = NEW.desk_id) AS t JOIN office ON office.id = t.office WHERE true ON CONFLICT (office_id) DO UPDATE SET version = office_page_version.version + 1; RETURN NULL; END $$',
        'CREATE CONSTRAINT TRIGGER raise_page_versions_insert AFTER INSERT ON desk_service DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION raise_page_versions_of_desk_service()',
        'CREATE CONSTRAINT TRIGGER raise_page_versions_update AFTER UPDATE ON desk_service DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION raise_page_versions_of_desk_service()',
        'CREATE CONSTRAINT TRIGGER raise_page_versions_delete AFTER DELETE ON desk_service DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION raise_page_versions_of_desk_service()',
    ],
    'sqlite': [
        'CREATE TRIGGER raise_page_versions_desk_service_insert AFTER INSERT ON desk_service FOR EACH ROW BEGIN INSERT INTO office_page_version (office_id, version) SELECT t.office, 1 FROM (SELECT d.office_id AS office FROM desk d WHERE d.id = NEW.desk_id) AS t JOIN office ON office.id = t.office WHERE true ON CONFLICT (office_id) DO UPDATE SET version = office_page_version.version + 1; END',
        'CREATE TRIGGER raise_page_versions_desk_service_update AFTER UPDATE ON desk_service FOR EACH ROW BEGIN INSERT INTO office_page_version (office_id, version) SELECT t.office, 1 FROM (SELECT d.office_id AS office FROM desk d WHERE d.id = OLD.desk_id UNION SELECT d.office_id AS office FROM desk d WHERE d.id = NEW.desk_id) AS t JOIN office ON office.id = t.office WHERE true ON CONFLICT (office_id) DO UPDATE SET version = office_page_version.version + 1; END',
        'CREATE TRIGGER raise_page_versions_desk_service_delete AFTER DELETE ON desk_service FOR EACH ROW BEGIN INSERT INTO office_page_version (office_id, version) SELECT t.office, 1 FROM (SELECT d.office_id AS office FROM desk d WHERE d.id = OLD.desk_id) AS t JOIN office ON office.id = t.office WHERE true ON CONFLICT (office_id) DO UPDATE SET version = office_page_version.version + 1; END',
    ],
}
DROPPED = {
    'postgresql': [
        'DROP TRIGGER IF EXISTS raise_page_versions_insert ON desk_service',
        'DROP TRIGGER IF EXISTS raise_page_versions_update ON desk_service',
        'DROP TRIGGER IF EXISTS raise_page_versions_delete ON desk_service',
        'DROP FUNCTION IF EXISTS raise_page_versions_of_desk_service()',
    ],
    'sqlite': [
        'DROP TRIGGER IF EXISTS raise_page_versions_desk_service_insert',
        'DROP TRIGGER IF EXISTS raise_page_versions_desk_service_update',
        'DROP TRIGGER IF EXISTS raise_page_versions_desk_service_delete',
    ],
}


def upgrade():
    op.create_table(
        'desk_service',
        sa.Column('desk_id', sa.Integer(), nullable=False),
        sa.Column('service_type_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ['desk_id'], ['desk.id'], name=op.f('fk_desk_service_desk_id_desk'), ondelete='CASCADE'
        ),
        sa.ForeignKeyConstraint(
            ['service_type_id'],
            ['service_type.id'],
            name=op.f('fk_desk_service_service_type_id_service_type'),
            ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('desk_id', 'service_type_id', name=op.f('pk_desk_service')),
    )
    op.create_table(
        'desk_claim',
        sa.Column('desk_id', sa.Integer(), nullable=False),
        sa.Column('office_id', sa.Integer(), nullable=False),
        sa.Column('clerk_id', sa.Integer(), nullable=False),
        sa.Column('session_version', sa.Integer(), nullable=False),
        sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('seen_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ['clerk_id'],
            ['user_account.id'],
            name=op.f('fk_desk_claim_clerk_id_user_account'),
            ondelete='CASCADE',
        ),
        sa.ForeignKeyConstraint(
            ['desk_id'], ['desk.id'], name=op.f('fk_desk_claim_desk_id_desk'), ondelete='CASCADE'
        ),
        sa.ForeignKeyConstraint(
            ['office_id'],
            ['office.id'],
            name=op.f('fk_desk_claim_office_id_office'),
            ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('desk_id', name=op.f('pk_desk_claim')),
        sa.UniqueConstraint('office_id', 'clerk_id', name=op.f('uq_desk_claim_office_id_clerk_id')),
    )
    # A desk with two called tickets of a day (none should have) keeps the latest call.
    op.execute(
        """
        UPDATE ticket SET status = 'parked'
        WHERE status = 'called' AND desk_id IS NOT NULL AND EXISTS (
            SELECT 1 FROM ticket later
            WHERE later.desk_id = ticket.desk_id AND later.service_day = ticket.service_day
              AND later.status = 'called'
              AND (later.last_called_at > ticket.last_called_at
                   OR (later.last_called_at = ticket.last_called_at AND later.id > ticket.id))
        )
        """
    )
    op.create_index(
        'uq_ticket_called_at_desk',
        'ticket',
        ['desk_id', 'service_day'],
        unique=True,
        sqlite_where=sa.text(CALLED_AT_DESK),
        postgresql_where=sa.text(CALLED_AT_DESK),
    )
    for statement in TRIGGERS[op.get_bind().dialect.name]:
        op.execute(statement)


def downgrade():
    for statement in DROPPED[op.get_bind().dialect.name]:
        op.execute(statement)
    op.drop_index(
        'uq_ticket_called_at_desk',
        table_name='ticket',
        sqlite_where=sa.text(CALLED_AT_DESK),
        postgresql_where=sa.text(CALLED_AT_DESK),
    )
    op.drop_table('desk_claim')
    op.drop_table('desk_service')
