"""daily figures: the report's counts per office and local day, kept right by triggers

Revision ID: 767f3b11f11a
Revises: c3a9e5d17b42
Create Date: 2026-12-02 02:22:16.392365

The figures of each office's days and the triggers that forget a day's figures when
anything the report counted for it changes (consular/models/figures.py). The SQL is
written out as it was when this revision was made; tests/test_migrations.py checks that
it is what the models create.

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '767f3b11f11a'
down_revision = 'c3a9e5d17b42'
branch_labels = None
depends_on = None


# What consular.models.figures.trigger_statements() gave for each dialect.
TRIGGERS = {
    'postgresql': [
        "CREATE FUNCTION forget_figures_of_appointment() RETURNS trigger LANGUAGE plpgsql AS $$ DECLARE probe record; BEGIN IF TG_ARGV[0] = 'OLD' THEN FOR probe IN SELECT OLD.office_id AS office, OLD.starts_at AS at UNION ALL SELECT slot.office_id, slot.starts_at FROM appointment_slot s JOIN slot ON slot.id = s.slot_id WHERE s.appointment_id = OLD.id LOOP DELETE FROM daily_figure WHERE daily_figure.office_id = probe.office AND daily_figure.day BETWEEN CAST(probe.at AT TIME ZONE 'UTC' AS date) - 1 AND CAST(probe.at AT TIME ZONE 'UTC' AS date) + 1 AND daily_figure.day_ends_at > probe.at AND daily_figure.day_starts_at <= probe.at; END LOOP; ELSE FOR probe IN SELECT NEW.office_id AS office, NEW.starts_at AS at UNION ALL SELECT slot.office_id, slot.starts_at FROM appointment_slot s JOIN slot ON slot.id = s.slot_id WHERE s.appointment_id = NEW.id LOOP DELETE FROM daily_figure WHERE daily_figure.office_id = probe.office AND daily_figure.day BETWEEN CAST(probe.at AT TIME ZONE 'UTC' AS date) - 1 AND CAST(probe.at AT TIME ZONE 'UTC' AS date) + 1 AND daily_figure.day_ends_at > probe.at AND daily_figure.day_starts_at <= probe.at; END LOOP; END IF; RETURN NULL; END $$",
        "CREATE TRIGGER forget_figures_insert AFTER INSERT ON appointment FOR EACH ROW WHEN ((NEW.confirmed_at IS NOT NULL)) EXECUTE FUNCTION forget_figures_of_appointment('NEW')",
        "CREATE TRIGGER forget_figures_update AFTER UPDATE OF office_id, starts_at, status, confirmed_at ON appointment FOR EACH ROW WHEN ((NEW.confirmed_at IS NOT NULL)) EXECUTE FUNCTION forget_figures_of_appointment('NEW')",
        "CREATE TRIGGER forget_figures_leave AFTER UPDATE OF office_id, starts_at, status, confirmed_at ON appointment FOR EACH ROW WHEN ((OLD.confirmed_at IS NOT NULL) AND (OLD.office_id IS DISTINCT FROM NEW.office_id OR OLD.starts_at IS DISTINCT FROM NEW.starts_at OR NOT (NEW.confirmed_at IS NOT NULL))) EXECUTE FUNCTION forget_figures_of_appointment('OLD')",
        "CREATE TRIGGER forget_figures_delete AFTER DELETE ON appointment FOR EACH ROW WHEN ((OLD.confirmed_at IS NOT NULL)) EXECUTE FUNCTION forget_figures_of_appointment('OLD')",
        "CREATE FUNCTION forget_figures_of_appointment_service() RETURNS trigger LANGUAGE plpgsql AS $$ DECLARE probe record; BEGIN IF TG_ARGV[0] = 'OLD' THEN FOR probe IN SELECT a.office_id AS office, a.starts_at AS at FROM appointment a WHERE a.id = OLD.appointment_id LOOP DELETE FROM daily_figure WHERE daily_figure.office_id = probe.office AND daily_figure.day BETWEEN CAST(probe.at AT TIME ZONE 'UTC' AS date) - 1 AND CAST(probe.at AT TIME ZONE 'UTC' AS date) + 1 AND daily_figure.day_ends_at > probe.at AND daily_figure.day_starts_at <= probe.at; END LOOP; ELSE FOR probe IN SELECT a.office_id AS office, a.starts_at AS at FROM appointment a WHERE a.id = NEW.appointment_id LOOP DELETE FROM daily_figure WHERE daily_figure.office_id = probe.office AND daily_figure.day BETWEEN CAST(probe.at AT TIME ZONE 'UTC' AS date) - 1 AND CAST(probe.at AT TIME ZONE 'UTC' AS date) + 1 AND daily_figure.day_ends_at > probe.at AND daily_figure.day_starts_at <= probe.at; END LOOP; END IF; RETURN NULL; END $$",
        "CREATE TRIGGER forget_figures_insert AFTER INSERT ON appointment_service FOR EACH ROW EXECUTE FUNCTION forget_figures_of_appointment_service('NEW')",
        "CREATE TRIGGER forget_figures_update AFTER UPDATE OF appointment_id, service_type_id ON appointment_service FOR EACH ROW EXECUTE FUNCTION forget_figures_of_appointment_service('NEW')",
        "CREATE TRIGGER forget_figures_leave AFTER UPDATE OF appointment_id, service_type_id ON appointment_service FOR EACH ROW WHEN (OLD.appointment_id IS DISTINCT FROM NEW.appointment_id) EXECUTE FUNCTION forget_figures_of_appointment_service('OLD')",
        "CREATE TRIGGER forget_figures_delete AFTER DELETE ON appointment_service FOR EACH ROW EXECUTE FUNCTION forget_figures_of_appointment_service('OLD')",
        "CREATE FUNCTION forget_figures_of_appointment_slot() RETURNS trigger LANGUAGE plpgsql AS $$ DECLARE probe record; BEGIN IF TG_ARGV[0] = 'OLD' THEN FOR probe IN SELECT slot.office_id AS office, slot.starts_at AS at FROM slot WHERE slot.id = OLD.slot_id LOOP DELETE FROM daily_figure WHERE daily_figure.office_id = probe.office AND daily_figure.day BETWEEN CAST(probe.at AT TIME ZONE 'UTC' AS date) - 1 AND CAST(probe.at AT TIME ZONE 'UTC' AS date) + 1 AND daily_figure.day_ends_at > probe.at AND daily_figure.day_starts_at <= probe.at; END LOOP; ELSE FOR probe IN SELECT slot.office_id AS office, slot.starts_at AS at FROM slot WHERE slot.id = NEW.slot_id LOOP DELETE FROM daily_figure WHERE daily_figure.office_id = probe.office AND daily_figure.day BETWEEN CAST(probe.at AT TIME ZONE 'UTC' AS date) - 1 AND CAST(probe.at AT TIME ZONE 'UTC' AS date) + 1 AND daily_figure.day_ends_at > probe.at AND daily_figure.day_starts_at <= probe.at; END LOOP; END IF; RETURN NULL; END $$",
        "CREATE TRIGGER forget_figures_insert AFTER INSERT ON appointment_slot FOR EACH ROW EXECUTE FUNCTION forget_figures_of_appointment_slot('NEW')",
        "CREATE TRIGGER forget_figures_update AFTER UPDATE OF appointment_id, slot_id, release_at ON appointment_slot FOR EACH ROW EXECUTE FUNCTION forget_figures_of_appointment_slot('NEW')",
        "CREATE TRIGGER forget_figures_leave AFTER UPDATE OF appointment_id, slot_id, release_at ON appointment_slot FOR EACH ROW WHEN (OLD.slot_id IS DISTINCT FROM NEW.slot_id) EXECUTE FUNCTION forget_figures_of_appointment_slot('OLD')",
        "CREATE TRIGGER forget_figures_delete AFTER DELETE ON appointment_slot FOR EACH ROW EXECUTE FUNCTION forget_figures_of_appointment_slot('OLD')",
        "CREATE FUNCTION forget_figures_of_slot() RETURNS trigger LANGUAGE plpgsql AS $$ DECLARE probe record; BEGIN IF TG_ARGV[0] = 'OLD' THEN DELETE FROM daily_figure WHERE daily_figure.office_id = OLD.office_id AND daily_figure.day BETWEEN CAST(OLD.starts_at AT TIME ZONE 'UTC' AS date) - 1 AND CAST(OLD.starts_at AT TIME ZONE 'UTC' AS date) + 1 AND daily_figure.day_ends_at > OLD.starts_at AND daily_figure.day_starts_at <= OLD.starts_at; ELSE DELETE FROM daily_figure WHERE daily_figure.office_id = NEW.office_id AND daily_figure.day BETWEEN CAST(NEW.starts_at AT TIME ZONE 'UTC' AS date) - 1 AND CAST(NEW.starts_at AT TIME ZONE 'UTC' AS date) + 1 AND daily_figure.day_ends_at > NEW.starts_at AND daily_figure.day_starts_at <= NEW.starts_at; END IF; RETURN NULL; END $$",
        "CREATE TRIGGER forget_figures_insert AFTER INSERT ON slot FOR EACH ROW EXECUTE FUNCTION forget_figures_of_slot('NEW')",
        "CREATE TRIGGER forget_figures_update AFTER UPDATE OF office_id, starts_at, capacity, is_blocked ON slot FOR EACH ROW EXECUTE FUNCTION forget_figures_of_slot('NEW')",
        "CREATE TRIGGER forget_figures_leave AFTER UPDATE OF office_id, starts_at, capacity, is_blocked ON slot FOR EACH ROW WHEN (OLD.office_id IS DISTINCT FROM NEW.office_id OR OLD.starts_at IS DISTINCT FROM NEW.starts_at) EXECUTE FUNCTION forget_figures_of_slot('OLD')",
        "CREATE TRIGGER forget_figures_delete AFTER DELETE ON slot FOR EACH ROW EXECUTE FUNCTION forget_figures_of_slot('OLD')",
        "CREATE FUNCTION forget_figures_of_ticket() RETURNS trigger LANGUAGE plpgsql AS $$ DECLARE probe record; BEGIN IF TG_ARGV[0] = 'OLD' THEN DELETE FROM daily_figure WHERE office_id = OLD.office_id AND day = OLD.service_day; ELSE DELETE FROM daily_figure WHERE office_id = NEW.office_id AND day = NEW.service_day; END IF; RETURN NULL; END $$",
        "CREATE TRIGGER forget_figures_insert AFTER INSERT ON ticket FOR EACH ROW EXECUTE FUNCTION forget_figures_of_ticket('NEW')",
        "CREATE TRIGGER forget_figures_update AFTER UPDATE OF office_id, service_day, service_type_id, is_walk_in, status, arrived_at, first_called_at, finished_at ON ticket FOR EACH ROW EXECUTE FUNCTION forget_figures_of_ticket('NEW')",
        "CREATE TRIGGER forget_figures_leave AFTER UPDATE OF office_id, service_day, service_type_id, is_walk_in, status, arrived_at, first_called_at, finished_at ON ticket FOR EACH ROW WHEN (OLD.office_id IS DISTINCT FROM NEW.office_id OR OLD.service_day IS DISTINCT FROM NEW.service_day) EXECUTE FUNCTION forget_figures_of_ticket('OLD')",
        "CREATE TRIGGER forget_figures_delete AFTER DELETE ON ticket FOR EACH ROW EXECUTE FUNCTION forget_figures_of_ticket('OLD')",
    ],
    'sqlite': [
        "CREATE TRIGGER forget_figures_appointment_insert AFTER INSERT ON appointment FOR EACH ROW WHEN (NEW.confirmed_at IS NOT NULL) BEGIN DELETE FROM daily_figure WHERE id IN (SELECT f.id FROM (SELECT NEW.office_id AS office, NEW.starts_at AS at UNION ALL SELECT slot.office_id, slot.starts_at FROM appointment_slot s JOIN slot ON slot.id = s.slot_id WHERE s.appointment_id = NEW.id) AS i JOIN daily_figure f ON f.office_id = i.office AND f.day BETWEEN date(i.at, '-1 day') AND date(i.at, '+1 day') AND f.day_ends_at > i.at AND f.day_starts_at <= i.at); END",
        "CREATE TRIGGER forget_figures_appointment_update AFTER UPDATE OF office_id, starts_at, status, confirmed_at ON appointment FOR EACH ROW WHEN (NEW.confirmed_at IS NOT NULL) BEGIN DELETE FROM daily_figure WHERE id IN (SELECT f.id FROM (SELECT NEW.office_id AS office, NEW.starts_at AS at UNION ALL SELECT slot.office_id, slot.starts_at FROM appointment_slot s JOIN slot ON slot.id = s.slot_id WHERE s.appointment_id = NEW.id) AS i JOIN daily_figure f ON f.office_id = i.office AND f.day BETWEEN date(i.at, '-1 day') AND date(i.at, '+1 day') AND f.day_ends_at > i.at AND f.day_starts_at <= i.at); END",
        "CREATE TRIGGER forget_figures_appointment_leave AFTER UPDATE OF office_id, starts_at, status, confirmed_at ON appointment FOR EACH ROW WHEN (OLD.confirmed_at IS NOT NULL) AND (OLD.office_id IS NOT NEW.office_id OR OLD.starts_at IS NOT NEW.starts_at OR NOT (NEW.confirmed_at IS NOT NULL)) BEGIN DELETE FROM daily_figure WHERE id IN (SELECT f.id FROM (SELECT OLD.office_id AS office, OLD.starts_at AS at UNION ALL SELECT slot.office_id, slot.starts_at FROM appointment_slot s JOIN slot ON slot.id = s.slot_id WHERE s.appointment_id = OLD.id) AS i JOIN daily_figure f ON f.office_id = i.office AND f.day BETWEEN date(i.at, '-1 day') AND date(i.at, '+1 day') AND f.day_ends_at > i.at AND f.day_starts_at <= i.at); END",
        "CREATE TRIGGER forget_figures_appointment_delete AFTER DELETE ON appointment FOR EACH ROW WHEN (OLD.confirmed_at IS NOT NULL) BEGIN DELETE FROM daily_figure WHERE id IN (SELECT f.id FROM (SELECT OLD.office_id AS office, OLD.starts_at AS at UNION ALL SELECT slot.office_id, slot.starts_at FROM appointment_slot s JOIN slot ON slot.id = s.slot_id WHERE s.appointment_id = OLD.id) AS i JOIN daily_figure f ON f.office_id = i.office AND f.day BETWEEN date(i.at, '-1 day') AND date(i.at, '+1 day') AND f.day_ends_at > i.at AND f.day_starts_at <= i.at); END",
        "CREATE TRIGGER forget_figures_appointment_service_insert AFTER INSERT ON appointment_service FOR EACH ROW BEGIN DELETE FROM daily_figure WHERE id IN (SELECT f.id FROM (SELECT a.office_id AS office, a.starts_at AS at FROM appointment a WHERE a.id = NEW.appointment_id) AS i JOIN daily_figure f ON f.office_id = i.office AND f.day BETWEEN date(i.at, '-1 day') AND date(i.at, '+1 day') AND f.day_ends_at > i.at AND f.day_starts_at <= i.at); END",
        "CREATE TRIGGER forget_figures_appointment_service_update AFTER UPDATE OF appointment_id, service_type_id ON appointment_service FOR EACH ROW BEGIN DELETE FROM daily_figure WHERE id IN (SELECT f.id FROM (SELECT a.office_id AS office, a.starts_at AS at FROM appointment a WHERE a.id = NEW.appointment_id) AS i JOIN daily_figure f ON f.office_id = i.office AND f.day BETWEEN date(i.at, '-1 day') AND date(i.at, '+1 day') AND f.day_ends_at > i.at AND f.day_starts_at <= i.at); END",
        "CREATE TRIGGER forget_figures_appointment_service_leave AFTER UPDATE OF appointment_id, service_type_id ON appointment_service FOR EACH ROW WHEN OLD.appointment_id IS NOT NEW.appointment_id BEGIN DELETE FROM daily_figure WHERE id IN (SELECT f.id FROM (SELECT a.office_id AS office, a.starts_at AS at FROM appointment a WHERE a.id = OLD.appointment_id) AS i JOIN daily_figure f ON f.office_id = i.office AND f.day BETWEEN date(i.at, '-1 day') AND date(i.at, '+1 day') AND f.day_ends_at > i.at AND f.day_starts_at <= i.at); END",
        "CREATE TRIGGER forget_figures_appointment_service_delete AFTER DELETE ON appointment_service FOR EACH ROW BEGIN DELETE FROM daily_figure WHERE id IN (SELECT f.id FROM (SELECT a.office_id AS office, a.starts_at AS at FROM appointment a WHERE a.id = OLD.appointment_id) AS i JOIN daily_figure f ON f.office_id = i.office AND f.day BETWEEN date(i.at, '-1 day') AND date(i.at, '+1 day') AND f.day_ends_at > i.at AND f.day_starts_at <= i.at); END",
        "CREATE TRIGGER forget_figures_appointment_slot_insert AFTER INSERT ON appointment_slot FOR EACH ROW BEGIN DELETE FROM daily_figure WHERE id IN (SELECT f.id FROM (SELECT slot.office_id AS office, slot.starts_at AS at FROM slot WHERE slot.id = NEW.slot_id) AS i JOIN daily_figure f ON f.office_id = i.office AND f.day BETWEEN date(i.at, '-1 day') AND date(i.at, '+1 day') AND f.day_ends_at > i.at AND f.day_starts_at <= i.at); END",
        "CREATE TRIGGER forget_figures_appointment_slot_update AFTER UPDATE OF appointment_id, slot_id, release_at ON appointment_slot FOR EACH ROW BEGIN DELETE FROM daily_figure WHERE id IN (SELECT f.id FROM (SELECT slot.office_id AS office, slot.starts_at AS at FROM slot WHERE slot.id = NEW.slot_id) AS i JOIN daily_figure f ON f.office_id = i.office AND f.day BETWEEN date(i.at, '-1 day') AND date(i.at, '+1 day') AND f.day_ends_at > i.at AND f.day_starts_at <= i.at); END",
        "CREATE TRIGGER forget_figures_appointment_slot_leave AFTER UPDATE OF appointment_id, slot_id, release_at ON appointment_slot FOR EACH ROW WHEN OLD.slot_id IS NOT NEW.slot_id BEGIN DELETE FROM daily_figure WHERE id IN (SELECT f.id FROM (SELECT slot.office_id AS office, slot.starts_at AS at FROM slot WHERE slot.id = OLD.slot_id) AS i JOIN daily_figure f ON f.office_id = i.office AND f.day BETWEEN date(i.at, '-1 day') AND date(i.at, '+1 day') AND f.day_ends_at > i.at AND f.day_starts_at <= i.at); END",
        "CREATE TRIGGER forget_figures_appointment_slot_delete AFTER DELETE ON appointment_slot FOR EACH ROW BEGIN DELETE FROM daily_figure WHERE id IN (SELECT f.id FROM (SELECT slot.office_id AS office, slot.starts_at AS at FROM slot WHERE slot.id = OLD.slot_id) AS i JOIN daily_figure f ON f.office_id = i.office AND f.day BETWEEN date(i.at, '-1 day') AND date(i.at, '+1 day') AND f.day_ends_at > i.at AND f.day_starts_at <= i.at); END",
        "CREATE TRIGGER forget_figures_slot_insert AFTER INSERT ON slot FOR EACH ROW BEGIN DELETE FROM daily_figure WHERE daily_figure.office_id = NEW.office_id AND daily_figure.day BETWEEN date(NEW.starts_at, '-1 day') AND date(NEW.starts_at, '+1 day') AND daily_figure.day_ends_at > NEW.starts_at AND daily_figure.day_starts_at <= NEW.starts_at; END",
        "CREATE TRIGGER forget_figures_slot_update AFTER UPDATE OF office_id, starts_at, capacity, is_blocked ON slot FOR EACH ROW BEGIN DELETE FROM daily_figure WHERE daily_figure.office_id = NEW.office_id AND daily_figure.day BETWEEN date(NEW.starts_at, '-1 day') AND date(NEW.starts_at, '+1 day') AND daily_figure.day_ends_at > NEW.starts_at AND daily_figure.day_starts_at <= NEW.starts_at; END",
        "CREATE TRIGGER forget_figures_slot_leave AFTER UPDATE OF office_id, starts_at, capacity, is_blocked ON slot FOR EACH ROW WHEN OLD.office_id IS NOT NEW.office_id OR OLD.starts_at IS NOT NEW.starts_at BEGIN DELETE FROM daily_figure WHERE daily_figure.office_id = OLD.office_id AND daily_figure.day BETWEEN date(OLD.starts_at, '-1 day') AND date(OLD.starts_at, '+1 day') AND daily_figure.day_ends_at > OLD.starts_at AND daily_figure.day_starts_at <= OLD.starts_at; END",
        "CREATE TRIGGER forget_figures_slot_delete AFTER DELETE ON slot FOR EACH ROW BEGIN DELETE FROM daily_figure WHERE daily_figure.office_id = OLD.office_id AND daily_figure.day BETWEEN date(OLD.starts_at, '-1 day') AND date(OLD.starts_at, '+1 day') AND daily_figure.day_ends_at > OLD.starts_at AND daily_figure.day_starts_at <= OLD.starts_at; END",
        'CREATE TRIGGER forget_figures_ticket_insert AFTER INSERT ON ticket FOR EACH ROW BEGIN DELETE FROM daily_figure WHERE office_id = NEW.office_id AND day = NEW.service_day; END',
        'CREATE TRIGGER forget_figures_ticket_update AFTER UPDATE OF office_id, service_day, service_type_id, is_walk_in, status, arrived_at, first_called_at, finished_at ON ticket FOR EACH ROW BEGIN DELETE FROM daily_figure WHERE office_id = NEW.office_id AND day = NEW.service_day; END',
        'CREATE TRIGGER forget_figures_ticket_leave AFTER UPDATE OF office_id, service_day, service_type_id, is_walk_in, status, arrived_at, first_called_at, finished_at ON ticket FOR EACH ROW WHEN OLD.office_id IS NOT NEW.office_id OR OLD.service_day IS NOT NEW.service_day BEGIN DELETE FROM daily_figure WHERE office_id = OLD.office_id AND day = OLD.service_day; END',
        'CREATE TRIGGER forget_figures_ticket_delete AFTER DELETE ON ticket FOR EACH ROW BEGIN DELETE FROM daily_figure WHERE office_id = OLD.office_id AND day = OLD.service_day; END',
    ],
}

DROP_TRIGGERS = {
    'postgresql': [
        'DROP TRIGGER IF EXISTS forget_figures_insert ON appointment',
        'DROP TRIGGER IF EXISTS forget_figures_update ON appointment',
        'DROP TRIGGER IF EXISTS forget_figures_leave ON appointment',
        'DROP TRIGGER IF EXISTS forget_figures_delete ON appointment',
        'DROP FUNCTION IF EXISTS forget_figures_of_appointment()',
        'DROP TRIGGER IF EXISTS forget_figures_insert ON appointment_service',
        'DROP TRIGGER IF EXISTS forget_figures_update ON appointment_service',
        'DROP TRIGGER IF EXISTS forget_figures_leave ON appointment_service',
        'DROP TRIGGER IF EXISTS forget_figures_delete ON appointment_service',
        'DROP FUNCTION IF EXISTS forget_figures_of_appointment_service()',
        'DROP TRIGGER IF EXISTS forget_figures_insert ON appointment_slot',
        'DROP TRIGGER IF EXISTS forget_figures_update ON appointment_slot',
        'DROP TRIGGER IF EXISTS forget_figures_leave ON appointment_slot',
        'DROP TRIGGER IF EXISTS forget_figures_delete ON appointment_slot',
        'DROP FUNCTION IF EXISTS forget_figures_of_appointment_slot()',
        'DROP TRIGGER IF EXISTS forget_figures_insert ON slot',
        'DROP TRIGGER IF EXISTS forget_figures_update ON slot',
        'DROP TRIGGER IF EXISTS forget_figures_leave ON slot',
        'DROP TRIGGER IF EXISTS forget_figures_delete ON slot',
        'DROP FUNCTION IF EXISTS forget_figures_of_slot()',
        'DROP TRIGGER IF EXISTS forget_figures_insert ON ticket',
        'DROP TRIGGER IF EXISTS forget_figures_update ON ticket',
        'DROP TRIGGER IF EXISTS forget_figures_leave ON ticket',
        'DROP TRIGGER IF EXISTS forget_figures_delete ON ticket',
        'DROP FUNCTION IF EXISTS forget_figures_of_ticket()',
    ],
    'sqlite': [
        'DROP TRIGGER IF EXISTS forget_figures_appointment_insert',
        'DROP TRIGGER IF EXISTS forget_figures_appointment_update',
        'DROP TRIGGER IF EXISTS forget_figures_appointment_leave',
        'DROP TRIGGER IF EXISTS forget_figures_appointment_delete',
        'DROP TRIGGER IF EXISTS forget_figures_appointment_service_insert',
        'DROP TRIGGER IF EXISTS forget_figures_appointment_service_update',
        'DROP TRIGGER IF EXISTS forget_figures_appointment_service_leave',
        'DROP TRIGGER IF EXISTS forget_figures_appointment_service_delete',
        'DROP TRIGGER IF EXISTS forget_figures_appointment_slot_insert',
        'DROP TRIGGER IF EXISTS forget_figures_appointment_slot_update',
        'DROP TRIGGER IF EXISTS forget_figures_appointment_slot_leave',
        'DROP TRIGGER IF EXISTS forget_figures_appointment_slot_delete',
        'DROP TRIGGER IF EXISTS forget_figures_slot_insert',
        'DROP TRIGGER IF EXISTS forget_figures_slot_update',
        'DROP TRIGGER IF EXISTS forget_figures_slot_leave',
        'DROP TRIGGER IF EXISTS forget_figures_slot_delete',
        'DROP TRIGGER IF EXISTS forget_figures_ticket_insert',
        'DROP TRIGGER IF EXISTS forget_figures_ticket_update',
        'DROP TRIGGER IF EXISTS forget_figures_ticket_leave',
        'DROP TRIGGER IF EXISTS forget_figures_ticket_delete',
    ],
}


def upgrade():
    # ### commands auto generated by Alembic - please adjust! ###
    op.create_table('daily_figure',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('office_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('day_starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('day_ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('computed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('seats_offered', sa.Integer(), nullable=False),
    sa.Column('seats_booked', sa.Integer(), nullable=False),
    sa.Column('bookings', sa.Integer(), nullable=False),
    sa.Column('cancellations', sa.Integer(), nullable=False),
    sa.Column('attended', sa.Integer(), nullable=False),
    sa.Column('no_shows', sa.Integer(), nullable=False),
    sa.Column('pending', sa.Integer(), nullable=False),
    sa.Column('walk_ins', sa.Integer(), nullable=False),
    sa.Column('lead_samples', sa.LargeBinary(), nullable=False),
    sa.Column('wait_samples', sa.LargeBinary(), nullable=False),
    sa.Column('service_samples', sa.LargeBinary(), nullable=False),
    sa.CheckConstraint('day_starts_at < day_ends_at', name=op.f('ck_daily_figure_day_in_order')),
    sa.ForeignKeyConstraint(['office_id'], ['office.id'], name=op.f('fk_daily_figure_office_id_office'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_daily_figure')),
    sa.UniqueConstraint('office_id', 'day', name=op.f('uq_daily_figure_office_id_day'))
    )
    op.create_table('daily_service_figure',
    sa.Column('figure_id', sa.Integer(), nullable=False),
    sa.Column('service_type_id', sa.Integer(), nullable=False),
    sa.Column('bookings', sa.Integer(), nullable=False),
    sa.Column('cancellations', sa.Integer(), nullable=False),
    sa.Column('attended', sa.Integer(), nullable=False),
    sa.Column('no_shows', sa.Integer(), nullable=False),
    sa.Column('pending', sa.Integer(), nullable=False),
    sa.Column('walk_ins', sa.Integer(), nullable=False),
    sa.Column('lead_samples', sa.LargeBinary(), nullable=False),
    sa.Column('wait_samples', sa.LargeBinary(), nullable=False),
    sa.Column('service_samples', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['figure_id'], ['daily_figure.id'], name=op.f('fk_daily_service_figure_figure_id_daily_figure'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['service_type_id'], ['service_type.id'], name=op.f('fk_daily_service_figure_service_type_id_service_type'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('figure_id', 'service_type_id', name=op.f('pk_daily_service_figure'))
    )
    with op.batch_alter_table('daily_service_figure', schema=None) as batch_op:
        batch_op.create_index('ix_daily_service_figure_service_type_id', ['service_type_id'], unique=False)

    for statement in TRIGGERS[op.get_bind().dialect.name]:
        op.execute(statement)
    # ### end Alembic commands ###


def downgrade():
    # ### commands auto generated by Alembic - please adjust! ###
    for statement in DROP_TRIGGERS[op.get_bind().dialect.name]:
        op.execute(statement)
    with op.batch_alter_table('daily_service_figure', schema=None) as batch_op:
        batch_op.drop_index('ix_daily_service_figure_service_type_id')

    op.drop_table('daily_service_figure')
    op.drop_table('daily_figure')
    # ### end Alembic commands ###
