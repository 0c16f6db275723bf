"""model registry: assets and models

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

from alembic import op
import sqlalchemy as sa
import amlite.db.base


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('assets',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('asset_type', sa.String(length=64), nullable=True),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('artifacts', sa.JSON(), nullable=False),
    sa.Column('kv_tags', sa.JSON(), nullable=False),
    sa.Column('properties', sa.JSON(), nullable=False),
    sa.Column('meta', sa.JSON(), nullable=False),
    sa.Column('run_id', sa.String(length=256), nullable=True),
    sa.Column('project_id', sa.String(length=256), nullable=True),
    sa.Column('created_at', amlite.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', amlite.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['resources.id'], name=op.f('fk_assets_workspace_id_resources'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_assets'))
    )
    with op.batch_alter_table('assets', schema=None) as batch_op:
        batch_op.create_index('ix_assets_workspace_created', ['workspace_id', 'created_at'], unique=False)

    op.create_table('models',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('url', sa.String(length=2048), nullable=False),
    sa.Column('files', sa.JSON(), nullable=False),
    sa.Column('mime_type', sa.String(length=255), nullable=False),
    sa.Column('unpack', sa.Boolean(), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('kv_tags', sa.JSON(), nullable=False),
    sa.Column('properties', sa.JSON(), nullable=False),
    sa.Column('framework', sa.String(length=64), nullable=False),
    sa.Column('framework_version', sa.String(length=64), nullable=True),
    sa.Column('experiment_name', sa.String(length=256), nullable=True),
    sa.Column('run_id', sa.String(length=256), nullable=True),
    sa.Column('datasets', sa.JSON(), nullable=False),
    sa.Column('parent_model_id', sa.String(length=300), nullable=True),
    sa.Column('derived_model_ids', sa.JSON(), nullable=False),
    sa.Column('sample_input_data', sa.String(length=1024), nullable=True),
    sa.Column('sample_output_data', sa.String(length=1024), nullable=True),
    sa.Column('resource_requirements', sa.JSON(), nullable=True),
    sa.Column('created_by', sa.JSON(), nullable=False),
    sa.Column('created_at', amlite.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('modified_at', amlite.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['resources.id'], name=op.f('fk_models_workspace_id_resources'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_models')),
    sa.UniqueConstraint('workspace_id', 'name', 'version', name=op.f('uq_models_workspace_id_name_version'))
    )
    with op.batch_alter_table('models', schema=None) as batch_op:
        batch_op.create_index('ix_models_workspace_created', ['workspace_id', 'created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('models', schema=None) as batch_op:
        batch_op.drop_index('ix_models_workspace_created')

    op.drop_table('models')
    with op.batch_alter_table('assets', schema=None) as batch_op:
        batch_op.drop_index('ix_assets_workspace_created')

    op.drop_table('assets')
