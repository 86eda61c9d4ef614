"""day page versions: counters of what the clerk's day page shows, raised by triggers

Revision ID: 88ad4978853b
Revises: 767f3b11f11a
Create Date: 2026-12-03 09:00:00.000000

The versions of each office and UTC date, and of each office, that the day page's cache
is kept under, and the triggers that raise them on every write the page would show
(consular/models/page_versions.py). The SQL is written out as it was when this revision
was made; tests/test_migrations.py checks that it is what the models create. New tables
only: no table the triggers watch is rebuilt (SQLite's batch mode would drop their
triggers).

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '88ad4978853b'
down_revision = '767f3b11f11a'
branch_labels = None
depends_on = None


# What consular.models.page_versions.trigger_statements() gave for each dialect.
TRIGGERS = {
    'postgresql': [
        "CREATE FUNCTION raise_page_versions_of_appointment() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO day_page_version (office_id, day, version) SELECT t.office, t.day, 1 FROM (SELECT OLD.office_id AS office, CAST(OLD.starts_at AT TIME ZONE 'UTC' AS date) AS day UNION SELECT NEW.office_id AS office, CAST(NEW.starts_at AT TIME ZONE 'UTC' AS date) AS day) AS t JOIN office ON office.id = t.office WHERE true ON CONFLICT (office_id, day) DO UPDATE SET version = day_page_version.version + 1; RETURN NULL; END $$",
        "CREATE CONSTRAINT TRIGGER raise_page_versions_insert AFTER INSERT ON appointment DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN ((NEW.status NOT IN ('held', 'expired'))) EXECUTE FUNCTION raise_page_versions_of_appointment()",
        "CREATE CONSTRAINT TRIGGER raise_page_versions_update AFTER UPDATE OF office_id, starts_at, status, reference, given_name, family_name, iin ON appointment DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (((OLD.status NOT IN ('held', 'expired')) OR (NEW.status NOT IN ('held', 'expired'))) AND (CAST(OLD.office_id AS text) IS DISTINCT FROM CAST(NEW.office_id AS text) OR CAST(OLD.starts_at AS text) IS DISTINCT FROM CAST(NEW.starts_at AS text) OR CAST(OLD.status AS text) IS DISTINCT FROM CAST(NEW.status AS text) OR CAST(OLD.reference AS text) IS DISTINCT FROM CAST(NEW.reference AS text) OR CAST(OLD.given_name AS text) IS DISTINCT FROM CAST(NEW.given_name AS text) OR CAST(OLD.family_name AS text) IS DISTINCT FROM CAST(NEW.family_name AS text) OR CAST(OLD.iin AS text) IS DISTINCT FROM CAST(NEW.iin AS text))) EXECUTE FUNCTION raise_page_versions_of_appointment()",
        "CREATE CONSTRAINT TRIGGER raise_page_versions_delete AFTER DELETE ON appointment DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN ((OLD.status NOT IN ('held', 'expired'))) EXECUTE FUNCTION raise_page_versions_of_appointment()",
        "CREATE FUNCTION raise_page_versions_of_appointment_service() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO day_page_version (office_id, day, version) SELECT t.office, t.day, 1 FROM (SELECT a.office_id AS office, CAST(a.starts_at AT TIME ZONE 'UTC' AS date) AS day FROM appointment a WHERE a.id = OLD.appointment_id AND a.status NOT IN ('held', 'expired') UNION SELECT a.office_id AS office, CAST(a.starts_at AT TIME ZONE 'UTC' AS date) AS day FROM appointment a WHERE a.id = NEW.appointment_id AND a.status NOT IN ('held', 'expired')) AS t JOIN office ON office.id = t.office WHERE true ON CONFLICT (office_id, day) DO UPDATE SET version = day_page_version.version + 1; RETURN NULL; END $$",
        'CREATE CONSTRAINT TRIGGER raise_page_versions_insert AFTER INSERT ON appointment_service DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION raise_page_versions_of_appointment_service()',
        'CREATE CONSTRAINT TRIGGER raise_page_versions_update AFTER UPDATE ON appointment_service DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION raise_page_versions_of_appointment_service()',
        'CREATE CONSTRAINT TRIGGER raise_page_versions_delete AFTER DELETE ON appointment_service DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION raise_page_versions_of_appointment_service()',
        'CREATE FUNCTION raise_page_versions_of_ticket() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO day_page_version (office_id, day, version) SELECT t.office, t.day, 1 FROM (SELECT OLD.office_id AS office, OLD.service_day AS day UNION SELECT NEW.office_id AS office, NEW.service_day AS day) AS t JOIN office ON office.id = t.office WHERE true ON CONFLICT (office_id, day) DO UPDATE SET version = day_page_version.version + 1; RETURN NULL; END $$',
        'CREATE CONSTRAINT TRIGGER raise_page_versions_insert AFTER INSERT ON ticket DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION raise_page_versions_of_ticket()',
        'CREATE CONSTRAINT TRIGGER raise_page_versions_update AFTER UPDATE ON ticket DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION raise_page_versions_of_ticket()',
        'CREATE CONSTRAINT TRIGGER raise_page_versions_delete AFTER DELETE ON ticket DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION raise_page_versions_of_ticket()',
        'CREATE FUNCTION raise_page_versions_of_ticket_counter() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO day_page_version (office_id, day, version) SELECT t.office, t.day, 1 FROM (SELECT OLD.office_id AS office, OLD.service_day AS day UNION SELECT NEW.office_id AS office, NEW.service_day AS day) AS t JOIN office ON office.id = t.office WHERE true ON CONFLICT (office_id, day) DO UPDATE SET version = day_page_version.version + 1; RETURN NULL; END $$',
        'CREATE CONSTRAINT TRIGGER raise_page_versions_insert AFTER INSERT ON ticket_counter DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN ((NEW.walk_in_slots <> 0)) EXECUTE FUNCTION raise_page_versions_of_ticket_counter()',
        'CREATE CONSTRAINT TRIGGER raise_page_versions_update AFTER UPDATE OF walk_in_slots ON ticket_counter DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (((OLD.walk_in_slots <> 0) OR (NEW.walk_in_slots <> 0)) AND (CAST(OLD.walk_in_slots AS text) IS DISTINCT FROM CAST(NEW.walk_in_slots AS text))) EXECUTE FUNCTION raise_page_versions_of_ticket_counter()',
        'CREATE CONSTRAINT TRIGGER raise_page_versions_delete AFTER DELETE ON ticket_counter DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN ((OLD.walk_in_slots <> 0)) EXECUTE FUNCTION raise_page_versions_of_ticket_counter()',
        "CREATE FUNCTION raise_page_versions_of_slot() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO day_page_version (office_id, day, version) SELECT t.office, t.day, 1 FROM (SELECT OLD.office_id AS office, CAST(OLD.starts_at AT TIME ZONE 'UTC' AS date) AS day UNION SELECT NEW.office_id AS office, CAST(NEW.starts_at AT TIME ZONE 'UTC' AS date) AS day) AS t JOIN office ON office.id = t.office WHERE true ON CONFLICT (office_id, day) DO UPDATE SET version = day_page_version.version + 1; RETURN NULL; END $$",
        'CREATE CONSTRAINT TRIGGER raise_page_versions_insert AFTER INSERT ON slot DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION raise_page_versions_of_slot()',
        'CREATE CONSTRAINT TRIGGER raise_page_versions_update AFTER UPDATE OF office_id, starts_at, desks, outside_schedule ON slot DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN ((CAST(OLD.office_id AS text) IS DISTINCT FROM CAST(NEW.office_id AS text) OR CAST(OLD.starts_at AS text) IS DISTINCT FROM CAST(NEW.starts_at AS text) OR CAST(OLD.desks AS text) IS DISTINCT FROM CAST(NEW.desks AS text) OR CAST(OLD.outside_schedule AS text) IS DISTINCT FROM CAST(NEW.outside_schedule AS text))) EXECUTE FUNCTION raise_page_versions_of_slot()',
        'CREATE CONSTRAINT TRIGGER raise_page_versions_delete AFTER DELETE ON slot DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION raise_page_versions_of_slot()',
        'CREATE FUNCTION raise_page_versions_of_desk() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO office_page_version (office_id, version) SELECT t.office, 1 FROM (SELECT OLD.office_id AS office UNION SELECT NEW.office_id AS office) AS t JOIN office ON office.id = t.office WHERE true ON CONFLICT (office_id) DO UPDATE SET version = office_page_version.version + 1; RETURN NULL; END $$',
        'CREATE CONSTRAINT TRIGGER raise_page_versions_insert AFTER INSERT ON desk DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION raise_page_versions_of_desk()',
        'CREATE CONSTRAINT TRIGGER raise_page_versions_update AFTER UPDATE ON desk DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION raise_page_versions_of_desk()',
        'CREATE CONSTRAINT TRIGGER raise_page_versions_delete AFTER DELETE ON desk DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION raise_page_versions_of_desk()',
        'CREATE FUNCTION raise_page_versions_of_office_service() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO office_page_version (office_id, version) SELECT t.office, 1 FROM (SELECT OLD.office_id AS office UNION SELECT NEW.office_id AS office) AS t JOIN office ON office.id = t.office WHERE true ON CONFLICT (office_id) DO UPDATE SET version = office_page_version.version + 1; RETURN NULL; END $$',
        'CREATE CONSTRAINT TRIGGER raise_page_versions_insert AFTER INSERT ON office_service DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION raise_page_versions_of_office_service()',
        'CREATE CONSTRAINT TRIGGER raise_page_versions_update AFTER UPDATE ON office_service DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION raise_page_versions_of_office_service()',
        'CREATE CONSTRAINT TRIGGER raise_page_versions_delete AFTER DELETE ON office_service DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION raise_page_versions_of_office_service()',
        'CREATE FUNCTION raise_page_versions_of_service_type() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO office_page_version (office_id, version) SELECT t.office, 1 FROM (SELECT s.office_id AS office FROM office_service s WHERE s.service_type_id = OLD.id UNION SELECT s.office_id AS office FROM office_service s WHERE s.service_type_id = NEW.id) AS t JOIN office ON office.id = t.office WHERE true ON CONFLICT (office_id) DO UPDATE SET version = office_page_version.version + 1; RETURN NULL; END $$',
        'CREATE CONSTRAINT TRIGGER raise_page_versions_update AFTER UPDATE OF name, is_active, sort_order ON service_type DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN ((CAST(OLD.name AS text) IS DISTINCT FROM CAST(NEW.name AS text) OR CAST(OLD.is_active AS text) IS DISTINCT FROM CAST(NEW.is_active AS text) OR CAST(OLD.sort_order AS text) IS DISTINCT FROM CAST(NEW.sort_order AS text))) EXECUTE FUNCTION raise_page_versions_of_service_type()',
        'CREATE FUNCTION raise_page_versions_of_office() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO office_page_version (office_id, version) SELECT t.office, 1 FROM (SELECT OLD.id AS office UNION SELECT NEW.id AS office) AS t JOIN office ON office.id = t.office WHERE true ON CONFLICT (office_id) DO UPDATE SET version = office_page_version.version + 1; RETURN NULL; END $$',
        'CREATE CONSTRAINT TRIGGER raise_page_versions_update AFTER UPDATE OF code, name, timezone, walk_in_share ON office DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN ((CAST(OLD.code AS text) IS DISTINCT FROM CAST(NEW.code AS text) OR CAST(OLD.name AS text) IS DISTINCT FROM CAST(NEW.name AS text) OR CAST(OLD.timezone AS text) IS DISTINCT FROM CAST(NEW.timezone AS text) OR CAST(OLD.walk_in_share AS text) IS DISTINCT FROM CAST(NEW.walk_in_share AS text))) EXECUTE FUNCTION raise_page_versions_of_office()',
    ],
    'sqlite': [
        "CREATE TRIGGER raise_page_versions_appointment_insert AFTER INSERT ON appointment FOR EACH ROW WHEN (NEW.status NOT IN ('held', 'expired')) BEGIN INSERT INTO day_page_version (office_id, day, version) SELECT t.office, t.day, 1 FROM (SELECT NEW.office_id AS office, date(NEW.starts_at) AS day) AS t JOIN office ON office.id = t.office WHERE true ON CONFLICT (office_id, day) DO UPDATE SET version = day_page_version.version + 1; END",
        "CREATE TRIGGER raise_page_versions_appointment_update AFTER UPDATE OF office_id, starts_at, status, reference, given_name, family_name, iin ON appointment FOR EACH ROW WHEN ((OLD.status NOT IN ('held', 'expired')) OR (NEW.status NOT IN ('held', 'expired'))) AND (OLD.office_id IS NOT NEW.office_id OR OLD.starts_at IS NOT NEW.starts_at OR OLD.status IS NOT NEW.status OR OLD.reference IS NOT NEW.reference OR OLD.given_name IS NOT NEW.given_name OR OLD.family_name IS NOT NEW.family_name OR OLD.iin IS NOT NEW.iin) BEGIN INSERT INTO day_page_version (office_id, day, version) SELECT t.office, t.day, 1 FROM (SELECT OLD.office_id AS office, date(OLD.starts_at) AS day UNION SELECT NEW.office_id AS office, date(NEW.starts_at) AS day) AS t JOIN office ON office.id = t.office WHERE true ON CONFLICT (office_id, day) DO UPDATE SET version = day_page_version.version + 1; END",
        "CREATE TRIGGER raise_page_versions_appointment_delete AFTER DELETE ON appointment FOR EACH ROW WHEN (OLD.status NOT IN ('held', 'expired')) BEGIN INSERT INTO day_page_version (office_id, day, version) SELECT t.office, t.day, 1 FROM (SELECT OLD.office_id AS office, date(OLD.starts_at) AS day) AS t JOIN office ON office.id = t.office WHERE true ON CONFLICT (office_id, day) DO UPDATE SET version = day_page_version.version + 1; END",
        "CREATE TRIGGER raise_page_versions_appointment_service_insert AFTER INSERT ON appointment_service FOR EACH ROW BEGIN INSERT INTO day_page_version (office_id, day, version) SELECT t.office, t.day, 1 FROM (SELECT a.office_id AS office, date(a.starts_at) AS day FROM appointment a WHERE a.id = NEW.appointment_id AND a.status NOT IN ('held', 'expired')) AS t JOIN office ON office.id = t.office WHERE true ON CONFLICT (office_id, day) DO UPDATE SET version = day_page_version.version + 1; END",
        "CREATE TRIGGER raise_page_versions_appointment_service_update AFTER UPDATE ON appointment_service FOR EACH ROW BEGIN INSERT INTO day_page_version (office_id, day, version) SELECT t.office, t.day, 1 FROM (SELECT a.office_id AS office, date(a.starts_at) AS day FROM appointment a WHERE a.id = OLD.appointment_id AND a.status NOT IN ('held', 'expired') UNION SELECT a.office_id AS office, date(a.starts_at) AS day FROM appointment a WHERE a.id = NEW.appointment_id AND a.status NOT IN ('held', 'expired')) AS t JOIN office ON office.id = t.office WHERE true ON CONFLICT (office_id, day) DO UPDATE SET version = day_page_version.version + 1; END",
        "CREATE TRIGGER raise_page_versions_appointment_service_delete AFTER DELETE ON appointment_service FOR EACH ROW BEGIN INSERT INTO day_page_version (office_id, day, version) SELECT t.office, t.day, 1 FROM (SELECT a.office_id AS office, date(a.starts_at) AS day FROM appointment a WHERE a.id = OLD.appointment_id AND a.status NOT IN ('held', 'expired')) AS t JOIN office ON office.id = t.office WHERE true ON CONFLICT (office_id, day) DO UPDATE SET version = day_page_version.version + 1; END",
        'CREATE TRIGGER raise_page_versions_ticket_insert AFTER INSERT ON ticket FOR EACH ROW BEGIN INSERT INTO day_page_version (office_id, day, version) SELECT t.office, t.day, 1 FROM (SELECT NEW.office_id AS office, NEW.service_day AS day) AS t JOIN office ON office.id = t.office WHERE true ON CONFLICT (office_id, day) DO UPDATE SET version = day_page_version.version + 1; END',
        'CREATE TRIGGER raise_page_versions_ticket_update AFTER UPDATE ON ticket FOR EACH ROW BEGIN INSERT INTO day_page_version (office_id, day, version) SELECT t.office, t.day, 1 FROM (SELECT OLD.office_id AS office, OLD.service_day AS day UNION SELECT NEW.office_id AS office, NEW.service_day AS day) AS t JOIN office ON office.id = t.office WHERE true ON CONFLICT (office_id, day) DO UPDATE SET version = day_page_version.version + 1; END',
        'CREATE TRIGGER raise_page_versions_ticket_delete AFTER DELETE ON ticket FOR EACH ROW BEGIN INSERT INTO day_page_version (office_id, day, version) SELECT t.office, t.day, 1 FROM (SELECT OLD.office_id AS office, OLD.service_day AS day) AS t JOIN office ON office.id = t.office WHERE true ON CONFLICT (office_id, day) DO UPDATE SET version = day_page_version.version + 1; END',
        'CREATE TRIGGER raise_page_versions_ticket_counter_insert AFTER INSERT ON ticket_counter FOR EACH ROW WHEN (NEW.walk_in_slots <> 0) BEGIN INSERT INTO day_page_version (office_id, day, version) SELECT t.office, t.day, 1 FROM (SELECT NEW.office_id AS office, NEW.service_day AS day) AS t JOIN office ON office.id = t.office WHERE true ON CONFLICT (office_id, day) DO UPDATE SET version = day_page_version.version + 1; END',
        'CREATE TRIGGER raise_page_versions_ticket_counter_update AFTER UPDATE OF walk_in_slots ON ticket_counter FOR EACH ROW WHEN ((OLD.walk_in_slots <> 0) OR (NEW.walk_in_slots <> 0)) AND (OLD.walk_in_slots IS NOT NEW.walk_in_slots) BEGIN INSERT INTO day_page_version (office_id, day, version) SELECT t.office, t.day, 1 FROM (SELECT OLD.office_id AS office, OLD.service_day AS day UNION SELECT NEW.office_id AS office, NEW.service_day AS day) AS t JOIN office ON office.id = t.office WHERE true ON CONFLICT (office_id, day) DO UPDATE SET version = day_page_version.version + 1; END',
        'CREATE TRIGGER raise_page_versions_ticket_counter_delete AFTER DELETE ON ticket_counter FOR EACH ROW WHEN (OLD.walk_in_slots <> 0) BEGIN INSERT INTO day_page_version (office_id, day, version) SELECT t.office, t.day, 1 FROM (SELECT OLD.office_id AS office, OLD.service_day AS day) AS t JOIN office ON office.id = t.office WHERE true ON CONFLICT (office_id, day) DO UPDATE SET version = day_page_version.version + 1; END',
        'CREATE TRIGGER raise_page_versions_slot_insert AFTER INSERT ON slot FOR EACH ROW BEGIN INSERT INTO day_page_version (office_id, day, version) SELECT t.office, t.day, 1 FROM (SELECT NEW.office_id AS office, date(NEW.starts_at) AS day) AS t JOIN office ON office.id = t.office WHERE true ON CONFLICT (office_id, day) DO UPDATE SET version = day_page_version.version + 1; END',
        'CREATE TRIGGER raise_page_versions_slot_update AFTER UPDATE OF office_id, starts_at, desks, outside_schedule ON slot FOR EACH ROW WHEN (OLD.office_id IS NOT NEW.office_id OR OLD.starts_at IS NOT NEW.starts_at OR OLD.desks IS NOT NEW.desks OR OLD.outside_schedule IS NOT NEW.outside_schedule) BEGIN INSERT INTO day_page_version (office_id, day, version) SELECT t.office, t.day, 1 FROM (SELECT OLD.office_id AS office, date(OLD.starts_at) AS day UNION SELECT NEW.office_id AS office, date(NEW.starts_at) AS day) AS t JOIN office ON office.id = t.office WHERE true ON CONFLICT (office_id, day) DO UPDATE SET version = day_page_version.version + 1; END',
        'CREATE TRIGGER raise_page_versions_slot_delete AFTER DELETE ON slot FOR EACH ROW BEGIN INSERT INTO day_page_version (office_id, day, version) SELECT t.office, t.day, 1 FROM (SELECT OLD.office_id AS office, date(OLD.starts_at) AS day) AS t JOIN office ON office.id = t.office WHERE true ON CONFLICT (office_id, day) DO UPDATE SET version = day_page_version.version + 1; END',
        'CREATE TRIGGER raise_page_versions_desk_insert AFTER INSERT ON desk FOR EACH ROW BEGIN INSERT INTO office_page_version (office_id, version) SELECT t.office, 1 FROM (SELECT NEW.office_id AS office) AS t JOIN office ON office.id = t.office WHERE true ON CONFLICT (office_id) DO UPDATE SET version = office_page_version.version + 1; END',
        'CREATE TRIGGER raise_page_versions_desk_update AFTER UPDATE ON desk FOR EACH ROW BEGIN INSERT INTO office_page_version (office_id, version) SELECT t.office, 1 FROM (SELECT OLD.office_id AS office UNION SELECT NEW.office_id AS office) AS t JOIN office ON office.id = t.office WHERE true ON CONFLICT (office_id) DO UPDATE SET version = office_page_version.version + 1; END',
        'CREATE TRIGGER raise_page_versions_desk_delete AFTER DELETE ON desk FOR EACH ROW BEGIN INSERT INTO office_page_version (office_id, version) SELECT t.office, 1 FROM (SELECT OLD.office_id AS office) AS t JOIN office ON office.id = t.office WHERE true ON CONFLICT (office_id) DO UPDATE SET version = office_page_version.version + 1; END',
        'CREATE TRIGGER raise_page_versions_office_service_insert AFTER INSERT ON office_service FOR EACH ROW BEGIN INSERT INTO office_page_version (office_id, version) SELECT t.office, 1 FROM (SELECT NEW.office_id AS office) AS t JOIN office ON office.id = t.office WHERE true ON CONFLICT (office_id) DO UPDATE SET version = office_page_version.version + 1; END',
        'CREATE TRIGGER raise_page_versions_office_service_update AFTER UPDATE ON office_service FOR EACH ROW BEGIN INSERT INTO office_page_version (office_id, version) SELECT t.office, 1 FROM (SELECT OLD.office_id AS office UNION SELECT NEW.office_id AS office) AS t JOIN office ON office.id = t.office WHERE true ON CONFLICT (office_id) DO UPDATE SET version = office_page_version.version + 1; END',
        'CREATE TRIGGER raise_page_versions_office_service_delete AFTER DELETE ON office_service FOR EACH ROW BEGIN INSERT INTO office_page_version (office_id, version) SELECT t.office, 1 FROM (SELECT OLD.office_id AS office) AS t JOIN office ON office.id = t.office WHERE true ON CONFLICT (office_id) DO UPDATE SET version = office_page_version.version + 1; END',
        'CREATE TRIGGER raise_page_versions_service_type_update AFTER UPDATE OF name, is_active, sort_order ON service_type FOR EACH ROW WHEN (OLD.name IS NOT NEW.name OR OLD.is_active IS NOT NEW.is_active OR OLD.sort_order IS NOT NEW.sort_order) BEGIN INSERT INTO office_page_version (office_id, version) SELECT t.office, 1 FROM (SELECT s.office_id AS office FROM office_service s WHERE s.service_type_id = OLD.id UNION SELECT s.office_id AS office FROM office_service s WHERE s.service_type_id = NEW.id) AS t JOIN office ON office.id = t.office WHERE true ON CONFLICT (office_id) DO UPDATE SET version = office_page_version.version + 1; END',
        'CREATE TRIGGER raise_page_versions_office_update AFTER UPDATE OF code, name, timezone, walk_in_share ON office FOR EACH ROW WHEN (OLD.code IS NOT NEW.code OR OLD.name IS NOT NEW.name OR OLD.timezone IS NOT NEW.timezone OR OLD.walk_in_share IS NOT NEW.walk_in_share) BEGIN INSERT INTO office_page_version (office_id, version) SELECT t.office, 1 FROM (SELECT OLD.id AS office UNION SELECT NEW.id AS office) AS t JOIN office ON office.id = t.office WHERE true ON CONFLICT (office_id) DO UPDATE SET version = office_page_version.version + 1; END',
    ],
}

DROP_TRIGGERS = {
    'postgresql': [
        'DROP TRIGGER IF EXISTS raise_page_versions_insert ON appointment',
        'DROP TRIGGER IF EXISTS raise_page_versions_update ON appointment',
        'DROP TRIGGER IF EXISTS raise_page_versions_delete ON appointment',
        'DROP FUNCTION IF EXISTS raise_page_versions_of_appointment()',
        'DROP TRIGGER IF EXISTS raise_page_versions_insert ON appointment_service',
        'DROP TRIGGER IF EXISTS raise_page_versions_update ON appointment_service',
        'DROP TRIGGER IF EXISTS raise_page_versions_delete ON appointment_service',
        'DROP FUNCTION IF EXISTS raise_page_versions_of_appointment_service()',
        'DROP TRIGGER IF EXISTS raise_page_versions_insert ON ticket',
        'DROP TRIGGER IF EXISTS raise_page_versions_update ON ticket',
        'DROP TRIGGER IF EXISTS raise_page_versions_delete ON ticket',
        'DROP FUNCTION IF EXISTS raise_page_versions_of_ticket()',
        'DROP TRIGGER IF EXISTS raise_page_versions_insert ON ticket_counter',
        'DROP TRIGGER IF EXISTS raise_page_versions_update ON ticket_counter',
        'DROP TRIGGER IF EXISTS raise_page_versions_delete ON ticket_counter',
        'DROP FUNCTION IF EXISTS raise_page_versions_of_ticket_counter()',
        'DROP TRIGGER IF EXISTS raise_page_versions_insert ON slot',
        'DROP TRIGGER IF EXISTS raise_page_versions_update ON slot',
        'DROP TRIGGER IF EXISTS raise_page_versions_delete ON slot',
        'DROP FUNCTION IF EXISTS raise_page_versions_of_slot()',
        'DROP TRIGGER IF EXISTS raise_page_versions_insert ON desk',
        'DROP TRIGGER IF EXISTS raise_page_versions_update ON desk',
        'DROP TRIGGER IF EXISTS raise_page_versions_delete ON desk',
        'DROP FUNCTION IF EXISTS raise_page_versions_of_desk()',
        'DROP TRIGGER IF EXISTS raise_page_versions_insert ON office_service',
        'DROP TRIGGER IF EXISTS raise_page_versions_update ON office_service',
        'DROP TRIGGER IF EXISTS raise_page_versions_delete ON office_service',
        'DROP FUNCTION IF EXISTS raise_page_versions_of_office_service()',
        'DROP TRIGGER IF EXISTS raise_page_versions_update ON service_type',
        'DROP FUNCTION IF EXISTS raise_page_versions_of_service_type()',
        'DROP TRIGGER IF EXISTS raise_page_versions_update ON office',
        'DROP FUNCTION IF EXISTS raise_page_versions_of_office()',
    ],
    'sqlite': [
        'DROP TRIGGER IF EXISTS raise_page_versions_appointment_insert',
        'DROP TRIGGER IF EXISTS raise_page_versions_appointment_update',
        'DROP TRIGGER IF EXISTS raise_page_versions_appointment_delete',
        'DROP TRIGGER IF EXISTS raise_page_versions_appointment_service_insert',
        'DROP TRIGGER IF EXISTS raise_page_versions_appointment_service_update',
        'DROP TRIGGER IF EXISTS raise_page_versions_appointment_service_delete',
        'DROP TRIGGER IF EXISTS raise_page_versions_ticket_insert',
        'DROP TRIGGER IF EXISTS raise_page_versions_ticket_update',
        'DROP TRIGGER IF EXISTS raise_page_versions_ticket_delete',
        'DROP TRIGGER IF EXISTS raise_page_versions_ticket_counter_insert',
        'DROP TRIGGER IF EXISTS raise_page_versions_ticket_counter_update',
        'DROP TRIGGER IF EXISTS raise_page_versions_ticket_counter_delete',
        'DROP TRIGGER IF EXISTS raise_page_versions_slot_insert',
        'DROP TRIGGER IF EXISTS raise_page_versions_slot_update',
        'DROP TRIGGER IF EXISTS raise_page_versions_slot_delete',
        'DROP TRIGGER IF EXISTS raise_page_versions_desk_insert',
        'DROP TRIGGER IF EXISTS raise_page_versions_desk_update',
        'DROP TRIGGER IF EXISTS raise_page_versions_desk_delete',
        'DROP TRIGGER IF EXISTS raise_page_versions_office_service_insert',
        'DROP TRIGGER IF EXISTS raise_page_versions_office_service_update',
        'DROP TRIGGER IF EXISTS raise_page_versions_office_service_delete',
        'DROP TRIGGER IF EXISTS raise_page_versions_service_type_update',
        'DROP TRIGGER IF EXISTS raise_page_versions_office_update',
    ],
}


def upgrade():
    op.create_table('day_page_version',
    sa.Column('office_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['office_id'], ['office.id'], name=op.f('fk_day_page_version_office_id_office'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('office_id', 'day', name=op.f('pk_day_page_version'))
    )
    op.create_table('office_page_version',
    sa.Column('office_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['office_id'], ['office.id'], name=op.f('fk_office_page_version_office_id_office'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('office_id', name=op.f('pk_office_page_version'))
    )
    for statement in TRIGGERS[op.get_bind().dialect.name]:
        op.execute(statement)


def downgrade():
    for statement in DROP_TRIGGERS[op.get_bind().dialect.name]:
        op.execute(statement)
    op.drop_table('office_page_version')
    op.drop_table('day_page_version')
