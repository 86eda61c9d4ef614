"""closure reasons shown to the public

Revision ID: 20bb3b4a3c0f
Revises: 1483cfc41ad2
Create Date: 2026-12-02 18:38:09.083967

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '20bb3b4a3c0f'
down_revision = '1483cfc41ad2'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('closure', schema=None) as batch_op:
        batch_op.add_column(sa.Column('is_reason_public', sa.Boolean(), server_default=sa.true(), nullable=False))


def downgrade():
    with op.batch_alter_table('closure', schema=None) as batch_op:
        batch_op.drop_column('is_reason_public')
