"""spoken calls: whether the waiting-room display says each call aloud, and in which languages

Revision ID: d7a2b4c6e8f0
Revises: e3b5c7d9f1a2
Create Date: 2026-12-03 14:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd7a2b4c6e8f0'
down_revision = 'e3b5c7d9f1a2'
branch_labels = None
depends_on = None


# Plain ALTER TABLE on both databases, as for the postal code: a batch copy of the office
# table would break the page-version triggers that name it.
def upgrade():
    op.add_column('office', sa.Column('calls_spoken', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column('office', sa.Column('call_languages', sa.JSON(), server_default='["ko", "ru"]', nullable=False))


def downgrade():
    op.drop_column('office', 'call_languages')
    op.drop_column('office', 'calls_spoken')
