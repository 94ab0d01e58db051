"""Foo: the SQL-backed resource."""

from ..api.sql_model import SqlModel


class FooModel(SqlModel):
    resource = "foo"
    fields = {
        "name": {"type": "string", "minLength": 1, "maxLength": 120},
    }
    required = ("name",)
