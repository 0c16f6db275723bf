"""hyperdrive: sweeps and their trials

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""

from alembic import op
import sqlalchemy as sa
import amlite.db.base


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('hyperdrive_sweeps',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.Column('parent_run_pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('config', sa.JSON(), nullable=False),
    sa.Column('seed', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('generated', sa.Integer(), nullable=False),
    sa.Column('all_jobs_generated', sa.Boolean(), nullable=False),
    sa.Column('ending', sa.String(length=16), nullable=True),
    sa.Column('error', sa.JSON(), nullable=True),
    sa.Column('submitted_by', sa.JSON(), nullable=False),
    sa.Column('created_at', amlite.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('modified_at', amlite.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['parent_run_pk'], ['runs.id'], name=op.f('fk_hyperdrive_sweeps_parent_run_pk_runs'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['resources.id'], name=op.f('fk_hyperdrive_sweeps_workspace_id_resources'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hyperdrive_sweeps')),
    sa.UniqueConstraint('parent_run_pk', name=op.f('uq_hyperdrive_sweeps_parent_run_pk'))
    )
    with op.batch_alter_table('hyperdrive_sweeps', schema=None) as batch_op:
        batch_op.create_index('ix_hyperdrive_sweeps_status', ['status'], unique=False)

    op.create_table('hyperdrive_trials',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('sweep_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('run_pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('sampler_attrs', sa.JSON(), nullable=False),
    sa.Column('hyperparameters', sa.JSON(), nullable=False),
    sa.Column('stopped_by', sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(['run_pk'], ['runs.id'], name=op.f('fk_hyperdrive_trials_run_pk_runs'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['sweep_id'], ['hyperdrive_sweeps.id'], name=op.f('fk_hyperdrive_trials_sweep_id_hyperdrive_sweeps'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hyperdrive_trials')),
    sa.UniqueConstraint('sweep_id', 'number', name=op.f('uq_hyperdrive_trials_sweep_id_number'))
    )
    with op.batch_alter_table('hyperdrive_trials', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_hyperdrive_trials_run_pk'), ['run_pk'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('hyperdrive_trials', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_hyperdrive_trials_run_pk'))

    op.drop_table('hyperdrive_trials')
    with op.batch_alter_table('hyperdrive_sweeps', schema=None) as batch_op:
        batch_op.drop_index('ix_hyperdrive_sweeps_status')

    op.drop_table('hyperdrive_sweeps')
