"""scoring services, the models they deploy, and their operations

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from alembic import op
import sqlalchemy as sa
import amlite.db.base


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('service_operations',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.Column('service_id', sa.String(length=32), nullable=True),
    sa.Column('service_name', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('target', sa.JSON(), nullable=False),
    sa.Column('error', sa.JSON(), nullable=True),
    sa.Column('log', sa.Text(), nullable=True),
    sa.Column('created_at', amlite.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('ended_at', amlite.db.base.UtcDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['workspace_id'], ['resources.id'], name=op.f('fk_service_operations_workspace_id_resources'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_service_operations'))
    )
    with op.batch_alter_table('service_operations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_service_operations_service_id'), ['service_id'], unique=False)
        batch_op.create_index('ix_service_operations_state', ['state'], unique=False)
        batch_op.create_index(batch_op.f('ix_service_operations_workspace_id'), ['workspace_id'], unique=False)

    op.create_table('services',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('compute_type', sa.String(length=16), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('kv_tags', sa.JSON(), nullable=False),
    sa.Column('properties', sa.JSON(), nullable=False),
    sa.Column('auth_enabled', sa.Boolean(), nullable=False),
    sa.Column('keys', sa.Text(), nullable=False),
    sa.Column('spec', sa.JSON(), nullable=False),
    sa.Column('generation', sa.Integer(), nullable=False),
    sa.Column('replicas', sa.JSON(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('error', sa.JSON(), nullable=True),
    sa.Column('operation_id', sa.String(length=36), nullable=True),
    sa.Column('created_by', sa.JSON(), nullable=False),
    sa.Column('created_at', amlite.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', amlite.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['resources.id'], name=op.f('fk_services_workspace_id_resources'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_services')),
    sa.UniqueConstraint('workspace_id', 'name', name=op.f('uq_services_workspace_id_name'))
    )
    with op.batch_alter_table('services', schema=None) as batch_op:
        batch_op.create_index('ix_services_workspace_created', ['workspace_id', 'created_at'], unique=False)

    op.create_table('service_models',
    sa.Column('service_id', sa.String(length=32), nullable=False),
    sa.Column('model_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['model_id'], ['models.id'], name=op.f('fk_service_models_model_id_models'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['service_id'], ['services.id'], name=op.f('fk_service_models_service_id_services'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('service_id', 'model_id', name=op.f('pk_service_models'))
    )
    with op.batch_alter_table('service_models', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_service_models_model_id'), ['model_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('service_models', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_service_models_model_id'))

    op.drop_table('service_models')
    with op.batch_alter_table('services', schema=None) as batch_op:
        batch_op.drop_index('ix_services_workspace_created')

    op.drop_table('services')
    with op.batch_alter_table('service_operations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_service_operations_workspace_id'))
        batch_op.drop_index('ix_service_operations_state')
        batch_op.drop_index(batch_op.f('ix_service_operations_service_id'))

    op.drop_table('service_operations')
