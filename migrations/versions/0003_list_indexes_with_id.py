"""foo's list indexes end with id

Revision ID: 0003_list_indexes_with_id
Revises: 0002_foo_name_exact_on_mysql
Create Date: 2026-12-01 16:00:00.000000

Lists order by a field and then by id (ties), and keyset pages seek on both: an
index on (field, id) serves both, where one on the field alone leaves the database
to sort the ties.
"""

from alembic import op

revision = "0003_list_indexes_with_id"
down_revision = "0002_foo_name_exact_on_mysql"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("foo", schema=None) as batch_op:
        batch_op.drop_index("ix_foo_name")
        batch_op.drop_index("ix_foo_created_at")
        batch_op.create_index("ix_foo_name", ["name", "id"], unique=False)
        batch_op.create_index("ix_foo_created_at", ["created_at", "id"], unique=False)


def downgrade():
    with op.batch_alter_table("foo", schema=None) as batch_op:
        batch_op.drop_index("ix_foo_created_at")
        batch_op.drop_index("ix_foo_name")
        batch_op.create_index("ix_foo_created_at", ["created_at"], unique=False)
        batch_op.create_index("ix_foo_name", ["name"], unique=False)
