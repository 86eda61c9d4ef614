"""booking drafts: the details page's answers, kept server-side for the review

The review, its Change links and the browser's Back button read what was typed from a
draft instead of a re-sent form. Only a hash of the browser's token is stored, and each
draft is deleted when its booking is confirmed and at the latest an hour after its update.

Revision ID: a1d7c3e0b5f2
Revises: e28c28f96c4a
Create Date: 2026-12-02 19:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a1d7c3e0b5f2'
down_revision = 'e28c28f96c4a'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('booking_draft',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('answers', sa.JSON(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('expires_at > updated_at', name=op.f('ck_booking_draft_expires_after_update')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_booking_draft')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_booking_draft_token_hash'))
    )
    with op.batch_alter_table('booking_draft', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_booking_draft_expires_at'), ['expires_at'], unique=False)


def downgrade():
    with op.batch_alter_table('booking_draft', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_booking_draft_expires_at'))

    op.drop_table('booking_draft')
