"""Foo: the SQL-backed resource."""

import sqlalchemy as sa

from ..api.schemas import DRAFT_07, TIMESTAMP
from ..api.sql_store import ExactString, SqlModel, Timestamp, list_indexes
from ..db import sql

NAME = {"type": "string", "minLength": 1, "maxLength": 120}
SORTABLE = ("id", "name", "created_at")
FILTERABLE = ("name",)


class FooRow(sql.Model):
    """The foo table; ``version`` guards concurrent writes (see SqlModel)."""

    __tablename__ = "foo"
    # Never reuse the id of a deleted foo (SQLite would, without AUTOINCREMENT).
    __table_args__ = (
        *list_indexes("foo", SORTABLE, FILTERABLE),
        {"sqlite_autoincrement": True},
    )

    id = sa.Column(sa.Integer, primary_key=True)
    name = sa.Column(ExactString(120), nullable=False)
    created_at = sa.Column(Timestamp, nullable=False)
    updated_at = sa.Column(Timestamp, nullable=False)
    version = sa.Column(sa.Integer, nullable=False)


class FooModel(SqlModel):
    table = FooRow.__table__
    sortable = SORTABLE
    filterable = FILTERABLE

    read_schema = {
        "$schema": DRAFT_07,
        "$id": "https://myapp.example/schemas/foo.json",
        "title": "Foo",
        "description": "Representation of a Foo",
        "type": "object",
        "properties": {
            "id": {"type": "integer", "minimum": 1},
            "name": NAME,
            "created_at": TIMESTAMP,
            "updated_at": TIMESTAMP,
        },
        "additionalProperties": False,
        "required": ["id", "name", "created_at", "updated_at"],
    }

    # id and the timestamps are set by the service, so they are not writable.
    write_schema = {
        "$schema": DRAFT_07,
        "$id": "https://myapp.example/schemas/foo-write.json",
        "title": "Foo Write",
        "description": "Representation of a user creating or updating a Foo",
        "type": "object",
        "properties": {"name": NAME},
        "additionalProperties": False,
        "required": ["name"],
    }
