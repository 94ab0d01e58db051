"""The migration creating a new feature's table, written from its declaration.

It says what ``sql_tables.build_table`` builds (the drift test holds the two
together): the columns, the primary, unique and foreign keys, and the list
indexes of ``sql_tables.list_indexes``.
"""

from ..api.sql_tables import column_type, list_indexes
from .literals import LINE_LENGTH, literal

# The column types as a migration spells them (migrations never import the models'
# types, except sql_tables' own: a later change of a model leaves them as written).
_TYPES = {
    "date": "sa.Date()",
    "date-time": "TIMESTAMP",
    "integer": "sa.BigInteger()",
    "reference": "sa.Integer()",
    "number": "sa.Double()",
    "boolean": "sa.Boolean()",
    "array": "sql_tables.JsonText()",
}


def _type_source(field):
    if field.kind in ("string", "enum"):
        return f"sql_tables.ExactString(length={column_type(field).impl.length})"
    return _TYPES[field.kind]


def call(function, arguments, indent, suffix=","):
    """``function(arguments...)`` on one line if it fits, else one argument a line."""
    pad = " " * indent
    flat = f"{pad}{function}({', '.join(arguments)}){suffix}"
    if len(flat) <= LINE_LENGTH:
        return [flat]
    inner = " " * (indent + 4)
    return (
        [f"{pad}{function}("]
        + [f"{inner}{a}," for a in arguments]
        + [f"{pad}){suffix}"]
    )


def _q(text):
    return literal(text)[0]


def table_lines(name, declared):
    """The arguments of op.create_table after the name, at 8 spaces."""
    lines = []
    column = [("id", "sa.Integer()", False)]
    column += [(f.name, _type_source(f), not f.required) for f in declared]
    column += [
        ("created_at", "TIMESTAMP", False),
        ("updated_at", "TIMESTAMP", False),
        ("version", "sa.Integer()", False),
    ]
    for column_name, type_source, nullable in column:
        lines += call(
            "sa.Column", [_q(column_name), type_source, f"nullable={nullable}"], 8
        )
    for field in declared:
        if field.references:
            lines += call(
                "sa.ForeignKeyConstraint",
                [
                    f"[{_q(field.name)}]",
                    f"[{_q(field.references + '.id')}]",
                    f"name={_q(f'fk_{name}_{field.name}')}",
                ],
                8,
            )
    lines += call("sa.PrimaryKeyConstraint", [_q("id")], 8)
    for field in declared:
        if field.unique:
            lines += call(
                "sa.UniqueConstraint",
                [_q(field.name), f"name={_q(f'uq_{name}_{field.name}')}"],
                8,
            )
    lines.append("        sqlite_autoincrement=True,")
    return lines


def index_lines(name, declared):
    """The create_index calls of upgrade, at 8 spaces."""
    lines = []
    for index, columns in list_indexes(name, declared):
        lines += call(
            "batch_op.create_index",
            [_q(index), "[" + ", ".join(_q(c) for c in columns) + "]", "unique=False"],
            8,
            suffix="",
        )
    return lines
