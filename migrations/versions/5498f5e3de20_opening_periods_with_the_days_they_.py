"""opening periods with the days they apply on

Revision ID: 5498f5e3de20
Revises: 20bb3b4a3c0f
Create Date: 2026-12-02 18:49:32.892293

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5498f5e3de20'
down_revision = '20bb3b4a3c0f'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('opening_period', schema=None) as batch_op:
        batch_op.add_column(sa.Column('valid_from', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('valid_until', sa.Date(), nullable=True))
        batch_op.create_check_constraint(
            'valid_in_order',
            'valid_from IS NULL OR valid_until IS NULL OR valid_from <= valid_until',
        )


def downgrade():
    with op.batch_alter_table('opening_period', schema=None) as batch_op:
        batch_op.drop_constraint('valid_in_order', type_='check')
        batch_op.drop_column('valid_until')
        batch_op.drop_column('valid_from')
