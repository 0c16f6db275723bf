"""datastores

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05
"""

from alembic import op
import sqlalchemy as sa
import amlite.db.base


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('datastores',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('name_key', sa.String(length=255), nullable=False),
    sa.Column('datastore_type', sa.String(length=32), nullable=False),
    sa.Column('account_name', sa.String(length=64), nullable=False),
    sa.Column('container_name', sa.String(length=64), nullable=False),
    sa.Column('endpoint', sa.String(length=256), nullable=False),
    sa.Column('protocol', sa.String(length=16), nullable=False),
    sa.Column('credential_type', sa.String(length=32), nullable=False),
    sa.Column('credential', sa.Text(), nullable=True),
    sa.Column('options', sa.JSON(), nullable=False),
    sa.Column('tags', sa.JSON(), nullable=False),
    sa.Column('has_been_validated', sa.Boolean(), nullable=False),
    sa.Column('created_at', amlite.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('modified_at', amlite.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['resources.id'], name=op.f('fk_datastores_workspace_id_resources'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_datastores')),
    sa.UniqueConstraint('workspace_id', 'name_key', name=op.f('uq_datastores_workspace_id_name_key'))
    )
    with op.batch_alter_table('datastores', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_datastores_workspace_id'), ['workspace_id'], unique=False)

    op.create_table('datastore_defaults',
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.Column('datastore_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['datastore_id'], ['datastores.id'], name=op.f('fk_datastore_defaults_datastore_id_datastores'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['workspace_id'], ['resources.id'], name=op.f('fk_datastore_defaults_workspace_id_resources'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('workspace_id', name=op.f('pk_datastore_defaults'))
    )


def downgrade() -> None:
    op.drop_table('datastore_defaults')
    with op.batch_alter_table('datastores', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_datastores_workspace_id'))

    op.drop_table('datastores')
