"""Models stored in SQL through SQLAlchemy Core, with optimistic concurrency.

Every table has ``id``, ``created_at``, ``updated_at`` and a ``version`` that each
write bumps: an update or delete only applies ``WHERE version = <the one read>``,
so concurrent writes never overwrite each other unseen.
"""

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Self, cast

import sqlalchemy as sa
from werkzeug.exceptions import BadRequest, Conflict

from ..db import sql
from .fields import MAX_ID, rfc3339
from .metrics import store_call
from .model import StoredModel
from .problems import FieldConflict, MissingReference, ValidationFailed
from .sql_pages import SqlPages
from .sql_tables import build_table, column_reader, violated_constraint
from .values import utcnow


class SqlModel(SqlPages, StoredModel):
    """A resource whose rows live in the table its declaration derives.

    Every operation is one SQL statement, run by ``_run`` as a transaction of its
    own: a read never holds a transaction open, and a guarded write is atomic.
    Unique values and references are enforced by the database's constraints; the
    errors it raises become 409 and 422 problems.
    """

    # Set on every declared model (by __init_subclass__); None on this base.
    if TYPE_CHECKING:
        table: ClassVar[sa.Table]
    else:
        table = None
    _readers: ClassVar[list[tuple[str, Callable[[Any], Any]]]]
    _select_by_id: ClassVar[sa.Select]
    _insert: ClassVar[sa.Insert]
    _update: ClassVar[sa.Update]
    _delete: ClassVar[sa.Delete]

    metadata = sql.metadata

    id_schema = {"type": "integer", "minimum": 1}

    lists_by_fields = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("fields") is None:
            return
        cls.table = table = build_table(cls.resource, cls.declared, cls.metadata)
        cls._readers = [(field.name, column_reader(field)) for field in cls.declared]
        # Built once: a request binds its values to a ready statement, whose
        # compiled form SQLAlchemy then finds in its cache without rebuilding it.
        guard = (
            table.c.id == sa.bindparam("row_id"),
            table.c.version == sa.bindparam("row_version"),
        )
        cls._select_by_id = sa.select(table).where(table.c.id == sa.bindparam("id"))
        cls._insert = sa.insert(table)
        cls._update = sa.update(table).where(*guard)
        cls._delete = sa.delete(table).where(*guard)
        cls._page_statements = {}

    def __init__(self, row: Mapping[str, Any]) -> None:
        self.row = row

    @property
    def id(self) -> int:
        return self.row["id"]

    def as_json(self) -> dict[str, Any]:
        """The row as its read schema describes it; a NULL column is left out.

        Leaving NULLs out makes an optional field behave as in Redis and in a merge
        patch: absent when unset, and null in a patch removes it.
        """
        row = self.row
        document: dict[str, Any] = {"id": row["id"]}
        for name, read in self._readers:
            value = row[name]
            if value is not None:
                document[name] = read(value)
        document["created_at"] = rfc3339(row["created_at"])
        document["updated_at"] = rfc3339(row["updated_at"])
        return document

    @classmethod
    def _bind(cls) -> sa.Engine | sa.Connection:
        """The app's engine for this table (a connection in the test harness)."""
        return sql.engines[cls.table.metadata.info.get("bind_key")]

    @classmethod
    def _run(
        cls,
        statement: sa.Executable,
        consume: Callable[[Any], Any],
        parameters: Mapping[str, Any] | None = None,
    ) -> Any:
        """Run one statement as its own transaction; ``consume`` reads its result.

        On PostgreSQL in autocommit: the statement is its own transaction there, and
        psycopg then sends no BEGIN and COMMIT, two round trips of three. Elsewhere
        in a transaction committed at once: a read ends its transaction at once,
        so a following guarded write starts its own and SQLite never has to upgrade
        a read lock (which it refuses under contention). A connection that is
        already in a transaction (the test harness's) runs it in a savepoint.
        """
        bind = cls._bind()
        if isinstance(bind, sa.engine.Connection):
            with bind.begin_nested():
                return consume(bind.execute(statement, parameters))
        if bind.dialect.name == "postgresql":
            with bind.connect() as connection:
                connection.execution_options(isolation_level="AUTOCOMMIT")
                return consume(connection.execute(statement, parameters))
        with bind.begin() as connection:
            return consume(connection.execute(statement, parameters))

    @classmethod
    def unstorable_characters(cls) -> str:
        """PostgreSQL text cannot hold NUL."""
        dialect = cls._bind().dialect.name
        return "\x00" if dialect == "postgresql" else ""

    @classmethod
    def _check_storable(cls, values: Mapping[str, Any], where: str = "body") -> None:
        """PostgreSQL text cannot hold NUL: a 400, not a 500 from the driver."""
        if not cls.unstorable_characters():
            return
        bad = [
            name
            for name, value in values.items()
            if isinstance(value, str) and "\x00" in value
        ]
        if not bad:
            return
        if where == "query":
            raise BadRequest(f"'{bad[0]}' contains a NUL character.")
        raise ValidationFailed(
            [{"path": f"/{name}", "message": "must not contain NUL"} for name in bad]
        )

    @classmethod
    @store_call("sql", "get")
    def get(cls, id: int) -> Self | None:
        """The record with this id, or None."""
        if not 1 <= id <= MAX_ID:
            return None
        row = cls._run(
            cls._select_by_id, lambda result: result.mappings().first(), {"id": id}
        )
        return cls(row) if row is not None else None

    @classmethod
    def _column_values(cls, data: Mapping[str, Any]) -> dict[str, Any]:
        """Every writable column's value for a valid write document (None: unset)."""
        values: dict[str, Any] = dict.fromkeys(cls.writable)
        for name, value in data.items():
            if value is not None:
                values[name] = cls.by_name[name].store_value(value)
        return values

    @classmethod
    @store_call("sql", "create")
    def create(cls, data: Mapping[str, Any]) -> Self:
        cls._check_storable(data)
        now = utcnow()
        values = cls._column_values(data)
        values.update(created_at=now, updated_at=now, version=1)
        # Not RETURNING: MySQL has none; SQLAlchemy uses it where it can.
        try:
            new_id = cls._run(
                cls._insert, lambda result: result.inserted_primary_key[0], values
            )
        except sa.exc.IntegrityError as error:
            raise cls._refused_write(error, values, None) from None
        return cls({**values, "id": new_id})

    @store_call("sql", "update")
    def update(self, data: Mapping[str, Any]) -> Self | None:
        """Replace the writable fields; None if the row changed since it was read."""
        self._check_storable(data)
        values = self._column_values(data)
        values.update(updated_at=utcnow(), version=self.row["version"] + 1)
        try:
            matched = self._run(
                self._update,
                lambda result: result.rowcount,
                {**values, "row_id": self.id, "row_version": self.row["version"]},
            )
        except sa.exc.IntegrityError as error:
            raise self._refused_write(error, values, self.id) from None
        if matched != 1:
            return None
        return type(self)({**self.row, **values})

    @store_call("sql", "delete")
    def delete(self) -> bool:
        """Delete the row; False if it changed since it was read."""
        try:
            matched = self._run(
                self._delete,
                lambda result: result.rowcount,
                {"row_id": self.id, "row_version": self.row["version"]},
            )
        except sa.exc.IntegrityError as error:
            if violated_constraint(error) != "foreign key":
                raise
            raise self._still_referenced() from None
        return matched == 1

    @classmethod
    def _words(cls) -> str:
        return cls.resource.replace("_", " ")

    @classmethod
    def _exists(cls, table: sa.Table, condition: sa.ColumnElement[bool]) -> bool:
        statement = sa.select(sa.literal(1)).select_from(table).where(condition)
        return cls._run(statement.limit(1), lambda result: result.first()) is not None

    @classmethod
    def _refused_write(
        cls, error: sa.exc.IntegrityError, values: Mapping[str, Any], own_id: int | None
    ) -> Exception:
        """The problem for a write the database refused, naming the fields.

        The constraint decided; the reads here only find which field to name (if a
        concurrent write changed things meanwhile, every candidate is named).
        """
        violation = violated_constraint(error)
        if violation == "unique":
            candidates = [
                field
                for field in cls.declared
                if field.unique and values[field.name] is not None
            ]
            table = cls.table
            clashing = [
                field
                for field in candidates
                if cls._exists(
                    table,
                    sa.and_(
                        table.c[field.name] == values[field.name],
                        table.c.id != (own_id or 0),
                    ),
                )
            ] or candidates
            names = ", ".join(field.name for field in clashing)
            return FieldConflict(
                [
                    {
                        "path": f"/{field.name}",
                        "message": f"another {cls._words()} has this {field.name}",
                    }
                    for field in clashing
                ],
                f"Another {cls._words()} has the same {names}.",
            )
        if violation == "foreign key":
            candidates = [
                field
                for field in cls.declared
                if field.references and values[field.name] is not None
            ]
            missing = [
                field
                for field in candidates
                if not cls._exists(
                    (target := cls.metadata.tables[cast(str, field.references)]),
                    target.c.id == values[field.name],
                )
            ] or candidates
            return MissingReference(
                [
                    {
                        "path": f"/{field.name}",
                        "message": f"no {field.references} has id {values[field.name]}",
                    }
                    for field in missing
                ]
            )
        return error

    def _still_referenced(self) -> Conflict:
        """409 naming the features whose records refer to this one."""
        referring: list[str] = []
        for table in self.metadata.sorted_tables:
            for key in table.foreign_keys:
                if key.column.table is self.table and self._exists(
                    table, key.parent == self.id
                ):
                    referring.append(f"{table.name} ({key.parent.name})")
        named = ", ".join(referring) or "other records"
        return Conflict(
            f"This {self._words()} is referenced by {named}: change or delete those"
            " first."
        )
