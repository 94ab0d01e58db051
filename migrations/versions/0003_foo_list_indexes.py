"""foo: indexes for keyset pages, every sort and every filter

Revision ID: 0003_foo_list_indexes
Revises: 0002_foo_name_exact_on_mysql
Create Date: 2026-12-01 15:50:00.000000

Lists are keyset pages on (sort key, id), oldest first by default, so each order
foo serves gets an index ending in id, and the name filter one in the default
order (see myapp.api.sql_store.list_indexes). The single-column indexes they
replace are prefixes of the new ones.
"""

from alembic import op

revision = "0003_foo_list_indexes"
down_revision = "0002_foo_name_exact_on_mysql"
branch_labels = None
depends_on = None

INDEXES = {
    "ix_foo_created_at_id": ["created_at", "id"],
    "ix_foo_name_id": ["name", "id"],
    "ix_foo_name_created_at_id": ["name", "created_at", "id"],
}


def upgrade():
    for name, columns in INDEXES.items():
        op.create_index(name, "foo", columns)
    op.drop_index("ix_foo_name", table_name="foo")
    op.drop_index("ix_foo_created_at", table_name="foo")


def downgrade():
    op.create_index("ix_foo_created_at", "foo", ["created_at"])
    op.create_index("ix_foo_name", "foo", ["name"])
    for name in INDEXES:
        op.drop_index(name, table_name="foo")
