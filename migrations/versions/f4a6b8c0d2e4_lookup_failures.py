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
    # Plain ALTER TABLE, not batch mode: on SQLite a batch would copy the table, and the
    # triggers on appointment_service that name appointment would stop the copy's rename.
    op.add_column('appointment', sa.Column('lookup_failures', sa.Integer(), server_default='0', nullable=False))
    op.add_column('appointment', sa.Column('lookup_failed_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    # SQLite drops a column in place since 3.35.
    op.drop_column('appointment', 'lookup_failed_at')
    op.drop_column('appointment', 'lookup_failures')
