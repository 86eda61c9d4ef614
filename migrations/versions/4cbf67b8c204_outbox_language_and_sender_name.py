"""outbox language and sender name: the headers of a citizen's e-mail in their language

An outbox message keeps the language it is written in (sent as Content-Language) and the
name the From header shows beside the configured address (the office's, in that language).
Messages written before have neither and go out with the configured sender, as before.

Revision ID: 4cbf67b8c204
Revises: 5498f5e3de20
Create Date: 2026-12-02 18:41:40.263035

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '4cbf67b8c204'
down_revision = '5498f5e3de20'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.add_column(sa.Column('language', sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column('sender_name', sa.String(length=255), nullable=True))


def downgrade():
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.drop_column('sender_name')
        batch_op.drop_column('language')
