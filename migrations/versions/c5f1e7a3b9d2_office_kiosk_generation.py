"""office kiosk generation: raising it stops every waiting-room kiosk of the office

Each kiosk's signed cookie names the office and this number; a manager's "Stop every kiosk"
raises it, so that every cookie made before no longer opens the kiosk.

Revision ID: c5f1e7a3b9d2
Revises: d7a2b4c6e8f0
Create Date: 2026-12-03 14:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c5f1e7a3b9d2'
down_revision = 'd7a2b4c6e8f0'
branch_labels = None
depends_on = None


# Plain ALTER TABLE on both databases, as for the postal code (b4e8f1a2c6d9): a batch copy of
# the office table would break the page-version triggers that name it.
def upgrade():
    op.add_column('office', sa.Column('kiosk_generation', sa.Integer(), server_default='1', nullable=False))


def downgrade():
    op.drop_column('office', 'kiosk_generation')
