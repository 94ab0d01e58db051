"""foo.name compares exactly on MySQL/MariaDB

Revision ID: 0002_foo_name_exact_on_mysql
Revises: 0001_create_foo
Create Date: 2026-11-28 17:40:00.000000

MySQL/MariaDB default collations ignore case, accents and trailing spaces, so
``?name=apple`` matched "Apple" and "apple ". A utf8mb4 binary NO PAD collation
makes the column compare byte for byte (myapp.api.sql_tables.ExactString). Other
databases already compare exactly: nothing to do there.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0002_foo_name_exact_on_mysql"
down_revision = "0001_create_foo"
branch_labels = None
depends_on = None


def _on_mysql():
    return op.get_context().dialect.name in ("mysql", "mariadb")


def upgrade():
    if not _on_mysql():
        return
    is_mariadb = op.get_context().dialect.is_mariadb
    collation = "utf8mb4_nopad_bin" if is_mariadb else "utf8mb4_0900_bin"
    op.alter_column(
        "foo",
        "name",
        existing_type=sa.String(length=120),
        type_=mysql.VARCHAR(length=120, charset="utf8mb4", collation=collation),
        existing_nullable=False,
    )


def downgrade():
    if not _on_mysql():
        return
    op.alter_column(
        "foo",
        "name",
        existing_type=mysql.VARCHAR(length=120),
        type_=sa.String(length=120),
        existing_nullable=False,
    )
