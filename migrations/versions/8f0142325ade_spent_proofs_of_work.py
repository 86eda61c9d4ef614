"""spent proofs of work: each ALTCHA challenge's solution is accepted once

Every hold request spends a proof of work; its challenge's signature is the primary key, so
a second use is refused by every worker and host. The rows also count the recent hold
requests of each office and network, which set the difficulty of new challenges, and are
deleted once they are needed for neither (`forget_at`): minutes of traffic, never history.

Revision ID: 8f0142325ade
Revises: 5d2e8c41a9b3
Create Date: 2026-12-02 06:48:15.942600

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '8f0142325ade'
down_revision = '5d2e8c41a9b3'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('spent_proof',
    sa.Column('signature', sa.String(length=128), nullable=False),
    sa.Column('office_id', sa.Integer(), nullable=False),
    sa.Column('network', sa.String(length=64), nullable=False),
    sa.Column('spent_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('forget_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('forget_at >= spent_at', name=op.f('ck_spent_proof_forgotten_after_use')),
    sa.ForeignKeyConstraint(['office_id'], ['office.id'], name=op.f('fk_spent_proof_office_id_office'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('signature', name=op.f('pk_spent_proof'))
    )
    with op.batch_alter_table('spent_proof', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_spent_proof_forget_at'), ['forget_at'], unique=False)
        batch_op.create_index('ix_spent_proof_network_spent_at', ['network', 'spent_at'], unique=False)
        batch_op.create_index('ix_spent_proof_office_spent_at', ['office_id', 'spent_at'], unique=False)


def downgrade():
    with op.batch_alter_table('spent_proof', schema=None) as batch_op:
        batch_op.drop_index('ix_spent_proof_office_spent_at')
        batch_op.drop_index('ix_spent_proof_network_spent_at')
        batch_op.drop_index(batch_op.f('ix_spent_proof_forget_at'))

    op.drop_table('spent_proof')
