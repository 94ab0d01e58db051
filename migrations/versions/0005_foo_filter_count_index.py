"""foo: an index on name alone, for the bounded count of the name filter

Revision ID: 0005_foo_filter_count_index
Revises: 0004_foo_filter_index
Create Date: 2026-12-01 19:20:00.000000

``?name=v`` counts its matches up to 10,001 from an index alone; on (name)
alone PostgreSQL stores each name once with the list of its rows, so the count
reads a quarter of the pages it reads on (name, id) (see
myapp.api.sql_tables.list_indexes).
"""

from alembic import op

revision = "0005_foo_filter_count_index"
down_revision = "0004_foo_filter_index"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("foo", schema=None) as batch_op:
        batch_op.create_index("ix_foo_name_count", ["name"], unique=False)


def downgrade():
    with op.batch_alter_table("foo", schema=None) as batch_op:
        batch_op.drop_index("ix_foo_name_count")
