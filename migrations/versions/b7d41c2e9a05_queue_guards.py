"""queue guards: walk-in slots counted on the day's counter row; tickets by day

Revision ID: b7d41c2e9a05
Revises: f78fbb0c26bb
Create Date: 2026-12-01 23:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b7d41c2e9a05'
down_revision = 'f78fbb0c26bb'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('ticket_counter', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('walk_in_slots', sa.Integer(), server_default='0', nullable=False)
        )
        batch_op.create_check_constraint(
            op.f('ck_ticket_counter_walk_in_slots_nonnegative'), 'walk_in_slots >= 0'
        )
    # The walk-ins already issued on each day count against its allowance, as before.
    op.execute(
        """
        UPDATE ticket_counter SET walk_in_slots = (
            SELECT COALESCE(SUM(
                (COALESCE(service_type.duration_minutes, office.slot_minutes)
                 + office.slot_minutes - 1) / office.slot_minutes), 0)
            FROM ticket
            JOIN office ON office.id = ticket.office_id
            LEFT JOIN service_type ON service_type.id = ticket.service_type_id
            WHERE ticket.office_id = ticket_counter.office_id
              AND ticket.service_day = ticket_counter.service_day
              AND ticket.is_walk_in AND NOT ticket.is_priority
              AND ticket.status <> 'cancelled'
        )
        """
    )


    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.create_index('ix_ticket_service_day', ['service_day'], unique=False)


def downgrade():
    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.drop_index('ix_ticket_service_day')
    with op.batch_alter_table('ticket_counter', schema=None) as batch_op:
        batch_op.drop_constraint(
            op.f('ck_ticket_counter_walk_in_slots_nonnegative'), type_='check'
        )
        batch_op.drop_column('walk_in_slots')
