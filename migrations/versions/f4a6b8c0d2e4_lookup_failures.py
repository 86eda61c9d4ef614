"""lookup failures: wrong IINs given with a reference, counted whatever the address

Enough wrong IINs for one reference pause opening it by reference and IIN for a day, and
the citizen is told by e-mail when their booking was looked up after failures.

Revision ID: f4a6b8c0d2e4
Revises: c5f1e7a3b9d2
Create Date: 2026-12-03 14:45:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'f4a6b8c0d2e4'
down_revision = 'c5f1e7a3b9d2'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('appointment', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lookup_failures', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('lookup_failed_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('appointment', schema=None) as batch_op:
        batch_op.drop_column('lookup_failed_at')
        batch_op.drop_column('lookup_failures')
