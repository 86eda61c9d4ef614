"""seats that may come back: a hold's expiry on its seats, and a partial index of such seats

Availability and every hold count the seats due back in the slots they read. Those are the
seats of unconfirmed holds and of cancelled or moved visits, a handful at any time; the
seats of visits served years ago are not. The hold's expiry is put on its seats
(`hold_until`) so that the due seats are found from appointment_slot alone, through an
index that holds only the seats that may come back.

Revision ID: c3a9e5d17b42
Revises: b7d41c2e9a05
Create Date: 2026-12-02 03:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c3a9e5d17b42'
down_revision = 'b7d41c2e9a05'
branch_labels = None
depends_on = None

SQLITE_CONDITION = 'holds_seat IS 1 AND (release_at IS NOT NULL OR hold_until IS NOT NULL)'
POSTGRESQL_CONDITION = 'holds_seat IS true AND (release_at IS NOT NULL OR hold_until IS NOT NULL)'


def upgrade():
    with op.batch_alter_table('appointment_slot', schema=None) as batch_op:
        batch_op.add_column(sa.Column('hold_until', sa.DateTime(timezone=True), nullable=True))
    # Holds not yet confirmed keep their seats until their expiry, as before.
    op.execute(
        """
        UPDATE appointment_slot SET hold_until = (
            SELECT appointment.hold_expires_at FROM appointment
            WHERE appointment.id = appointment_slot.appointment_id
        )
        WHERE holds_seat AND release_at IS NULL AND appointment_id IN (
            SELECT id FROM appointment WHERE status = 'held'
        )
        """
    )
    op.create_index(
        'ix_appointment_slot_may_come_back',
        'appointment_slot',
        ['slot_id'],
        unique=False,
        sqlite_where=sa.text(SQLITE_CONDITION),
        postgresql_where=sa.text(POSTGRESQL_CONDITION),
    )
    if op.get_bind().dialect.name == 'postgresql':
        # The planner needs the new column's statistics to pick the index at once.
        op.execute('ANALYZE appointment_slot')


def downgrade():
    op.drop_index(
        'ix_appointment_slot_may_come_back',
        table_name='appointment_slot',
        sqlite_where=sa.text(SQLITE_CONDITION),
        postgresql_where=sa.text(POSTGRESQL_CONDITION),
    )
    with op.batch_alter_table('appointment_slot', schema=None) as batch_op:
        batch_op.drop_column('hold_until')
