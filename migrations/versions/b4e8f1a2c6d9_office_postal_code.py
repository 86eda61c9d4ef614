"""office postal code: shown with the address in Korean script, for taxis and map apps

Revision ID: b4e8f1a2c6d9
Revises: a1d7c3e0b5f2
Create Date: 2026-12-02 19:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b4e8f1a2c6d9'
down_revision = 'a1d7c3e0b5f2'
branch_labels = None
depends_on = None


# Plain ALTER TABLE on both databases: SQLite adds and drops a column in place, and a batch
# copy of the office table would break the page-version triggers that name it.
def upgrade():
    op.add_column('office', sa.Column('postal_code', sa.String(length=10), server_default='', nullable=False))


def downgrade():
    op.drop_column('office', 'postal_code')
