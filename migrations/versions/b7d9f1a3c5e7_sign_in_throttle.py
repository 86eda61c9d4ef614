"""sign-in throttle: failed sign-ins per e-mail and address, and spent sign-in proofs

Wrong passwords are counted per (e-mail, address) pair, which waits a growing delay after a
few; the failures of an e-mail from anywhere make the sign-in ask for a proof of work, whose
solutions are spent once.

Revision ID: b7d9f1a3c5e7
Revises: f4a6b8c0d2e4
Create Date: 2026-12-04 10:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b7d9f1a3c5e7'
down_revision = 'f4a6b8c0d2e4'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('sign_in_failure',
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('address', sa.String(length=64), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('last_failed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('blocked_until', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('failures >= 1', name=op.f('ck_sign_in_failure_failures_positive')),
    sa.CheckConstraint('blocked_until >= last_failed_at', name=op.f('ck_sign_in_failure_blocked_after_failure')),
    sa.PrimaryKeyConstraint('email', 'address', name=op.f('pk_sign_in_failure'))
    )
    with op.batch_alter_table('sign_in_failure', schema=None) as batch_op:
        batch_op.create_index('ix_sign_in_failure_email_failed_at', ['email', 'last_failed_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_sign_in_failure_last_failed_at'), ['last_failed_at'], unique=False)

    op.create_table('spent_sign_in_proof',
    sa.Column('signature', sa.String(length=128), nullable=False),
    sa.Column('forget_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('signature', name=op.f('pk_spent_sign_in_proof'))
    )
    with op.batch_alter_table('spent_sign_in_proof', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_spent_sign_in_proof_forget_at'), ['forget_at'], unique=False)


def downgrade():
    with op.batch_alter_table('spent_sign_in_proof', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_spent_sign_in_proof_forget_at'))

    op.drop_table('spent_sign_in_proof')
    with op.batch_alter_table('sign_in_failure', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sign_in_failure_last_failed_at'))
        batch_op.drop_index('ix_sign_in_failure_email_failed_at')

    op.drop_table('sign_in_failure')
