"""fair access: the mailbox and domain of a visit's e-mail, live-visit indexes for the quotas,
one booking per IIN in N days, and holds that take no place until confirmed

The quotas count live holds and bookings per IIN, mailbox, phone and private e-mail domain
(services/fair_access.py) through partial indexes that hold only live visits. A hold's
service lines no longer take a place among the person's bookings: confirming does, so that
a hold made with someone else's IIN can't lock its owner out.

Revision ID: 5d2e8c41a9b3
Revises: 88ad4978853b
Create Date: 2026-12-02 07:20:00

"""
from alembic import op
import sqlalchemy as sa



def _mailbox(address):
    """As services/fair_access.normalized_email and email_domain were when this was written."""
    local, at, domain = address.strip().lower().rpartition('@')
    if not at or not local:
        return address.strip().lower(), ''
    domain = {'googlemail.com': 'gmail.com'}.get(domain, domain)
    local = local.split('+', 1)[0] or local
    if domain == 'gmail.com':
        local = local.replace('.', '')
    return f'{local}@{domain}', domain


# revision identifiers, used by Alembic.
revision = '5d2e8c41a9b3'
down_revision = '88ad4978853b'
branch_labels = None
depends_on = None

LIVE_VISIT = "status IN ('held', 'confirmed')"
LIVE_INDEXES = {
    'ix_appointment_live_iin': 'iin',
    'ix_appointment_live_email_key': 'email_key',
    'ix_appointment_live_email_domain': 'email_domain',
    'ix_appointment_live_phone': 'phone',
}


def upgrade():
    # Plain ALTER TABLE (no table copy on SQLite, so the appointment's triggers stay).
    op.add_column('appointment', sa.Column('email_key', sa.String(length=254), nullable=True))
    op.add_column('appointment', sa.Column('email_domain', sa.String(length=254), nullable=True))
    connection = op.get_bind()
    live = connection.execute(
        sa.text(f"SELECT id, email FROM appointment WHERE {LIVE_VISIT}")
    ).all()
    for appointment_id, email in live:
        key, domain = _mailbox(email)
        connection.execute(
            sa.text("UPDATE appointment SET email_key = :key, email_domain = :domain WHERE id = :id"),
            {"key": key, "domain": domain, "id": appointment_id},
        )
    # Holds not yet confirmed give up their places; confirming takes them again.
    op.execute(
        """
        UPDATE appointment_service SET is_active = false
        WHERE appointment_id IN (SELECT id FROM appointment WHERE status = 'held')
        """
    )
    op.create_index('ix_appointment_office_created_at', 'appointment', ['office_id', 'created_at'])
    for name, column in LIVE_INDEXES.items():
        op.create_index(
            name,
            'appointment',
            [column],
            sqlite_where=sa.text(LIVE_VISIT),
            postgresql_where=sa.text(LIVE_VISIT),
        )
    # SQLite takes a column's CHECK in ALTER TABLE ADD COLUMN; a table copy (batch mode)
    # would drop the old table, and with it, by cascade, the service combinations.
    if op.get_bind().dialect.name == 'sqlite':
        op.execute(
            'ALTER TABLE service_type ADD COLUMN iin_window_days INTEGER DEFAULT 0 NOT NULL'
            ' CONSTRAINT ck_service_type_iin_window_range CHECK (iin_window_days BETWEEN 0 AND 366)'
        )
    else:
        op.add_column(
            'service_type',
            sa.Column('iin_window_days', sa.Integer(), server_default='0', nullable=False),
        )
        op.create_check_constraint(
            'iin_window_range', 'service_type', 'iin_window_days BETWEEN 0 AND 366'
        )


def downgrade():
    if op.get_bind().dialect.name == 'sqlite':
        # SQLite drops a column with a CHECK of its own only by copying the table.
        op.execute('PRAGMA foreign_keys = OFF')
        with op.batch_alter_table('service_type', schema=None) as batch_op:
            batch_op.drop_constraint('iin_window_range', type_='check')
            batch_op.drop_column('iin_window_days')
        op.execute('PRAGMA foreign_keys = ON')
    else:
        op.drop_constraint('iin_window_range', 'service_type', type_='check')
        op.drop_column('service_type', 'iin_window_days')
    for name in LIVE_INDEXES:
        op.drop_index(name, table_name='appointment')
    op.drop_index('ix_appointment_office_created_at', table_name='appointment')
    # Holds take their places again, as before (the first free one of each line's service).
    op.execute(
        """
        UPDATE appointment_service SET is_active = true
        WHERE appointment_id IN (SELECT id FROM appointment WHERE status = 'held')
          AND NOT EXISTS (
            SELECT 1 FROM appointment_service other
            WHERE other.iin = appointment_service.iin
              AND other.service_type_id = appointment_service.service_type_id
              AND other.active_seq = appointment_service.active_seq
              AND other.is_active
          )
        """
    )
    op.drop_column('appointment', 'email_domain')
    op.drop_column('appointment', 'email_key')
