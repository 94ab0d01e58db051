"""Pages of SQL tables: keyset (after a position) and offset, with a bounded total.

One statement per page: the count is a scalar subquery beside its rows, and the
statements are built once per shape of list (order, filters, position).
"""

import operator
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, ClassVar

import sqlalchemy as sa

from .metrics import store_call
from .paging import TOTAL_BOUND, Page, PageQuery, SortKey, field_kind

# The label of the total that comes with each row of a page.
PAGE_TOTAL = "_page_total"


COMPARE = {
    "eq": operator.eq,
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}


def keyset_after(
    columns: Sequence[tuple[sa.Column[Any], bool]],
    after_nulls: Sequence[bool],
    nulls_largest: bool,
) -> list[sa.ColumnElement[bool]]:
    """Conditions for the rows after a position in the order of ``columns``.

    ``columns`` is [(column, descending)], the position is bound as ``after_<i>``
    (``after_nulls[i]`` says which values are NULL). Lexicographic: a row is
    after when its keys equal the position's up to some key and that key lies
    beyond. NULLs sort as the database sorts them: largest on PostgreSQL,
    smallest on SQLite and MySQL/MariaDB. The leading key also gets a plain
    bound, redundant with the rest, so the database seeks its index to the
    position instead of reading the order from its start.
    """

    def value(index: int) -> sa.BindParameter[Any]:
        return sa.bindparam(f"after_{index}", type_=columns[index][0].type)

    def equal(index: int) -> sa.ColumnElement[bool]:
        column = columns[index][0]
        return column.is_(None) if after_nulls[index] else column == value(index)

    def beyond(index: int, or_equal: bool = False) -> sa.ColumnElement[bool]:
        column, descending = columns[index]
        nulls_follow = nulls_largest != descending
        if after_nulls[index]:
            if nulls_follow:
                return column.is_(None) if or_equal else sa.false()
            return sa.true() if or_equal else column.is_not(None)
        if descending:
            compared = column <= value(index) if or_equal else column < value(index)
        else:
            compared = column >= value(index) if or_equal else column > value(index)
        if nulls_follow and column.nullable:
            return compared | column.is_(None)
        return compared

    alternatives = [
        sa.and_(*(equal(j) for j in range(i)), beyond(i)) for i in range(len(columns))
    ]
    return [beyond(0, or_equal=True), sa.or_(*alternatives)]


class SqlPages:
    """SqlModel's lists: keyset and offset pages of the table, with a bounded
    total, from statements built once per shape of list."""

    # What SqlModel, the class this serves, provides.
    if TYPE_CHECKING:
        table: ClassVar[sa.Table]
        read_schema: dict[str, Any]
        _page_statements: ClassVar[dict[tuple, tuple[sa.Select, sa.Select]]]

        def __init__(self, row: Mapping[str, Any]) -> None: ...

        @classmethod
        def _check_storable(
            cls, values: Mapping[str, Any], where: str = "body"
        ) -> None: ...

        @classmethod
        def _bind(cls) -> sa.Engine | sa.Connection: ...

        @classmethod
        def _run(
            cls,
            statement: sa.Executable,
            consume: Callable[[Any], Any],
            parameters: Mapping[str, Any] | None = None,
        ) -> Any: ...

    @classmethod
    def order_keys(cls, sort: Sequence[SortKey]) -> tuple[SortKey, ...]:
        """The keys a page is ordered by: the sort (or oldest first), then ``id``.

        ``id`` breaks ties in the direction of the last key, so the order is total
        and a keyset position names exactly one place in it.
        """
        if not sort:
            return (SortKey("created_at"), SortKey("id"))
        if any(key.name == "id" for key in sort):
            return tuple(sort)
        return (*sort, SortKey("id", sort[-1].descending))

    @classmethod
    def position_from_json(cls, sort: Sequence[SortKey], values: Any) -> tuple:
        """A cursor's position, typed back by each key's field schema."""
        keys = cls.order_keys(sort)
        if not isinstance(values, list) or len(values) != len(keys):
            raise ValueError("a position of another order")
        properties = cls.read_schema["properties"]
        typed: list[Any] = []
        for key, value in zip(keys, values):
            if value is None and cls.table.c[key.name].nullable:
                typed.append(None)
                continue
            kind = field_kind(properties[key.name])
            if kind in ("integer", "number", "boolean"):
                expected: dict[str, type | tuple[type, ...]] = {
                    "integer": int,
                    "number": (int, float),
                    "boolean": bool,
                }
                if not isinstance(value, expected[kind]) or (
                    kind != "boolean" and isinstance(value, bool)
                ):
                    raise TypeError(f"{key.name} is not a {kind}")
                typed.append(value)
            elif not isinstance(value, str):
                raise TypeError(f"{key.name} is not text")
            elif kind == "date-time":
                typed.append(datetime.fromisoformat(value))
            elif kind == "date":
                typed.append(date.fromisoformat(value))
            else:
                typed.append(value)
        return tuple(typed)

    @classmethod
    def _page_statement(cls, shape: tuple) -> tuple[sa.Select, sa.Select]:
        """The page and count statements for one shape of list, cached.

        The shape is what changes the SQL: the order, each filter's field and
        operator, whether the page starts after a position (and which of its
        values are NULL), and the dialect. Values are bound parameters.
        """
        statements = cls._page_statements.get(shape)
        if statements is not None:
            return statements
        keys, filter_shape, after_nulls, dialect = shape
        table = cls.table
        conditions = [
            COMPARE[operator](
                table.c[name],
                sa.bindparam(f"filter_{index}", type_=_filter_type(table.c[name])),
            )
            for index, (name, operator) in enumerate(filter_shape)
        ]
        # Bounded: the count stops at one past the bound, whatever the table's size.
        matching = (
            sa.select(sa.literal_column("1"))
            .select_from(table)
            .where(*conditions)
            .limit(TOTAL_BOUND + 1)
            .subquery("matching")
        )
        count = sa.select(sa.func.count()).select_from(matching)
        columns = [(table.c[key.name], key.descending) for key in keys]
        page = sa.select(table, count.scalar_subquery().label(PAGE_TOTAL)).where(
            *conditions
        )
        if after_nulls is not None:
            page = page.where(
                *keyset_after(columns, after_nulls, dialect == "postgresql")
            )
        page = page.order_by(
            *(
                column.desc() if descending else column.asc()
                for column, descending in columns
            )
        ).limit(sa.bindparam("page_limit", type_=sa.Integer))
        if after_nulls is None:
            page = page.offset(sa.bindparam("page_offset", type_=sa.Integer))
        statements = cls._page_statements[shape] = (page, count)
        return statements

    @classmethod
    @store_call("sql", "page")
    def page(cls, query: PageQuery) -> Page:
        """A page of records, a bounded count and where the next page starts.

        One statement: the count is a scalar subquery beside the page's rows, so
        both see the same snapshot; only an empty page has to count apart. One row
        more than the page is read, to know whether another page follows.
        """
        cls._check_storable(
            {f.parameter: f.value for f in query.filters}, where="query"
        )
        keys = cls.order_keys(query.sort)
        after_nulls = (
            None
            if query.after is None
            else tuple(value is None for value in query.after)
        )
        shape = (
            keys,
            tuple((f.name, f.operator) for f in query.filters),
            after_nulls,
            cls._bind().dialect.name,
        )
        page, count = cls._page_statement(shape)
        parameters = {f"filter_{i}": f.value for i, f in enumerate(query.filters)}
        bound = {**parameters, "page_limit": query.limit + 1}
        if query.after is None:
            bound["page_offset"] = query.offset
        else:
            bound.update(
                (f"after_{i}", value)
                for i, value in enumerate(query.after)
                if value is not None
            )
        rows = cls._run(page, lambda result: result.mappings().all(), bound)
        if rows:
            counted = rows[0][PAGE_TOTAL]
        else:
            counted = cls._run(count, lambda result: result.scalar_one(), parameters)
        next_position = None
        if len(rows) > query.limit:
            rows = rows[: query.limit]
            next_position = tuple(rows[-1][key.name] for key in keys)
        return Page([cls(row) for row in rows], counted, next_position)


def _filter_type(column: sa.Column[Any]) -> Any:
    """A filter takes any 64-bit integer, also on a 32-bit column (a reference):
    bound as BIGINT, a value no row can hold matches nothing instead of failing."""
    if isinstance(column.type, sa.Integer):
        return sa.BigInteger()
    return column.type
