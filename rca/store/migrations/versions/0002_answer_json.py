"""incident.answer_json: the answer as the API serves it, rendered once

Rows stored before this revision keep answer_json NULL; readers render those from ``answer`` (as they must
for rows written by an older service during a rolling upgrade anyway).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('incident', schema=None) as batch_op:
        batch_op.add_column(sa.Column('answer_json', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('incident', schema=None) as batch_op:
        batch_op.drop_column('answer_json')
