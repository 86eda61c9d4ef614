"""appointment origin: where each hold came from, for the review of suspicious bookings

The client's network, the e-mail's domain, keyed hashes of the user agent and of the device
fingerprint, the seconds the journey took, and the review's bulk cancellation that cancelled
it. Appointments held before this revision have none; the review starts with the holds made
after it.

Revision ID: e89f605db22c
Revises: 8f0142325ade
Create Date: 2026-12-02 06:42:00.830779

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e89f605db22c'
down_revision = '8f0142325ade'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('appointment_origin',
    sa.Column('appointment_id', sa.Integer(), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('network', sa.String(length=64), nullable=False),
    sa.Column('email_domain', sa.String(length=254), nullable=False),
    sa.Column('email_base_domain', sa.String(length=254), nullable=False),
    sa.Column('is_public_domain', sa.Boolean(), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=True),
    sa.Column('seconds', sa.Integer(), nullable=True),
    sa.Column('user_agent_hash', sa.String(length=64), nullable=False),
    sa.Column('review_audit_entry_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('seconds >= 0', name=op.f('ck_appointment_origin_seconds_nonnegative')),
    sa.ForeignKeyConstraint(['appointment_id'], ['appointment.id'], name=op.f('fk_appointment_origin_appointment_id_appointment'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['review_audit_entry_id'], ['audit_entry.id'], name=op.f('fk_appointment_origin_review_audit_entry_id_audit_entry'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('appointment_id', name=op.f('pk_appointment_origin'))
    )
    with op.batch_alter_table('appointment_origin', schema=None) as batch_op:
        batch_op.create_index('ix_appointment_origin_recorded_at', ['recorded_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_appointment_origin_review_audit_entry_id'), ['review_audit_entry_id'], unique=False)


def downgrade():
    with op.batch_alter_table('appointment_origin', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_appointment_origin_review_audit_entry_id'))
        batch_op.drop_index('ix_appointment_origin_recorded_at')

    op.drop_table('appointment_origin')
