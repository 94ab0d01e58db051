"""create foo

Revision ID: 0001_create_foo
Revises:
Create Date: 2026-11-28 17:17:32.554840

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0001_create_foo"
down_revision = None
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade():
    op.create_table(
        "foo",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("foo", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_foo_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_foo_name"), ["name"], unique=False)


def downgrade():
    with op.batch_alter_table("foo", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_foo_name"))
        batch_op.drop_index(batch_op.f("ix_foo_created_at"))
    op.drop_table("foo")
