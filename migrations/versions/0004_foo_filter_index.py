"""foo: an index for the name filter in the default order

Revision ID: 0004_foo_filter_index
Revises: 0003_list_indexes_with_id
Create Date: 2026-12-01 16:10:00.000000

``?name=v`` lists oldest first, keyset on (created_at, id): (name, created_at,
id) reads a page of matches in that order, and bounds the filtered count, from
the index alone (see myapp.api.sql_tables.list_indexes).
"""

from alembic import op

revision = "0004_foo_filter_index"
down_revision = "0003_list_indexes_with_id"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("foo", schema=None) as batch_op:
        batch_op.create_index(
            "ix_foo_name_created_at", ["name", "created_at", "id"], unique=False
        )


def downgrade():
    with op.batch_alter_table("foo", schema=None) as batch_op:
        batch_op.drop_index("ix_foo_name_created_at")
