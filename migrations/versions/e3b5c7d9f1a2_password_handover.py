"""password handover: a temporary password shown once from a server-side record

A new or reset account's temporary password no longer travels in the administrator's
session cookie. The database keeps it XORed with a one-time pad that only that session
holds, until the page shows it once (or for a few minutes at most).

Revision ID: e3b5c7d9f1a2
Revises: 4cbf67b8c204
Create Date: 2026-12-03 14:30:00

"""
from alembic import op
import sqlalchemy as sa



# revision identifiers, used by Alembic.
revision = 'e3b5c7d9f1a2'
down_revision = '4cbf67b8c204'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'password_handover',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('account_id', sa.Integer(), nullable=False),
        sa.Column('admin_id', sa.Integer(), nullable=False),
        sa.Column('sealed', sa.String(length=512), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['account_id'], ['user_account.id'], name=op.f('fk_password_handover_account_id_user_account'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['admin_id'], ['user_account.id'], name=op.f('fk_password_handover_admin_id_user_account'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_password_handover')),
    )
    with op.batch_alter_table('password_handover', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_password_handover_created_at'), ['created_at'], unique=False)


def downgrade():
    with op.batch_alter_table('password_handover', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_password_handover_created_at'))
    op.drop_table('password_handover')
