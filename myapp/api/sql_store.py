"""Models stored in SQL through SQLAlchemy Core, with optimistic concurrency.

Every table has ``id``, ``created_at``, ``updated_at`` and a ``version`` that each
write bumps: an update or delete only applies ``WHERE version = <the one read>``,
so concurrent writes never overwrite each other unseen.
"""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from werkzeug.exceptions import BadRequest

from ..db import sql
from .problems import ValidationFailed
from .stored import StoredModel, rfc3339, utcnow

# Naive UTC, with microseconds everywhere (MySQL/MariaDB default to whole seconds).
Timestamp = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")

# Binary NO PAD collations: MySQL/MariaDB defaults ignore case, accents and (PAD
# SPACE, utf8mb4_bin included) trailing spaces; these names differ per server.
MARIADB_EXACT_COLLATION = "utf8mb4_nopad_bin"
MYSQL_EXACT_COLLATION = "utf8mb4_0900_bin"  # MySQL 8.0.17 and later


class ExactString(sa.types.TypeDecorator):
    """VARCHAR(length) in characters whose comparisons are exact on every database.

    SQLite and PostgreSQL compare text exactly already. MySQL/MariaDB get utf8mb4
    (4-byte characters such as emoji) with a binary NO PAD collation, chosen by the
    server actually connected to, so a ``mysql://`` URL to MariaDB works too.
    """

    impl = sa.String
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name not in ("mysql", "mariadb"):
            return dialect.type_descriptor(sa.String(self.impl.length))
        collation = (
            MARIADB_EXACT_COLLATION if dialect.is_mariadb else MYSQL_EXACT_COLLATION
        )
        return dialect.type_descriptor(
            mysql.VARCHAR(self.impl.length, charset="utf8mb4", collation=collation)
        )


# The largest id an INTEGER column holds; beyond it an id is simply not found.
MAX_ID = 2**31 - 1


class SqlModel(StoredModel):
    """A resource whose rows live in ``table`` (a Flask-SQLAlchemy model's table)."""

    table = None

    def __init__(self, row):
        self.row = row

    @property
    def id(self):
        return self.row["id"]

    def as_json(self):
        """The row as its read schema describes it; a NULL column is left out.

        Leaving NULLs out makes an optional field behave as in Redis and in a merge
        patch: absent when unset, and null in a patch removes it.
        """
        document = {}
        for name in self.read_schema["properties"]:
            value = self.row[name]
            if isinstance(value, datetime):
                value = rfc3339(value)
            if value is not None:
                document[name] = value
        return document

    @classmethod
    def _session(cls):
        return sql.session

    @classmethod
    def unstorable_characters(cls):
        """PostgreSQL text cannot hold NUL."""
        dialect = cls._session().get_bind().dialect.name
        return "\x00" if dialect == "postgresql" else ""

    @classmethod
    def _check_storable(cls, values, where="body"):
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
    def get(cls, id):
        """The record with this id, or None; the read transaction ends at once.

        Ending it means a following guarded write starts its own transaction, so
        SQLite never has to upgrade a read lock (which it refuses under contention).
        """
        if not 1 <= id <= MAX_ID:
            return None
        session = cls._session()
        row = (
            session.execute(sa.select(cls.table).where(cls.table.c.id == id))
            .mappings()
            .first()
        )
        session.commit()
        return cls(row) if row is not None else None

    @classmethod
    def page(cls, query):
        table = cls.table
        cls._check_storable(query.filters, where="query")
        conditions = [table.c[name] == value for name, value in query.filters.items()]
        if query.sort is None:
            order = [table.c.created_at, table.c.id]
        else:
            name, descending = query.sort
            column = table.c[name]
            order = [column.desc() if descending else column.asc()]
            if name != "id":
                order.append(table.c.id.desc() if descending else table.c.id.asc())
        session = cls._session()
        rows = session.execute(
            sa.select(table)
            .where(*conditions)
            .order_by(*order)
            .limit(query.limit)
            .offset(query.offset)
        ).mappings()
        records = [cls(row) for row in rows]
        if len(records) < query.limit and (records or query.offset == 0):
            total = query.offset + len(records)  # a short page ends the collection
        else:
            total = session.execute(
                sa.select(sa.func.count()).select_from(table).where(*conditions)
            ).scalar_one()
        session.commit()
        return records, total

    @classmethod
    def create(cls, data):
        cls._check_storable(data)
        now = utcnow()
        values = {name: data.get(name) for name in cls.writable}
        values.update(created_at=now, updated_at=now, version=1)
        session = cls._session()
        # Not RETURNING: MySQL has none; SQLAlchemy uses it where it can.
        result = session.execute(sa.insert(cls.table).values(values))
        new_id = result.inserted_primary_key[0]
        session.commit()
        return cls({**values, "id": new_id})

    def update(self, data):
        """Replace the writable fields; None if the row changed since it was read."""
        self._check_storable(data)
        table = self.table
        values = {name: data.get(name) for name in self.writable}
        values.update(updated_at=utcnow(), version=self.row["version"] + 1)
        session = self._session()
        result = session.execute(
            sa.update(table)
            .where(table.c.id == self.id, table.c.version == self.row["version"])
            .values(values)
        )
        if result.rowcount != 1:
            session.rollback()
            return None
        session.commit()
        return type(self)({**self.row, **values})

    def delete(self):
        """Delete the row; False if it changed since it was read."""
        table = self.table
        session = self._session()
        result = session.execute(
            sa.delete(table).where(
                table.c.id == self.id, table.c.version == self.row["version"]
            )
        )
        if result.rowcount != 1:
            session.rollback()
            return False
        session.commit()
        return True


def _sqlite_connect(dbapi_connection, connection_record):
    # pysqlite never emits BEGIN itself: take over, so transactions and savepoints
    # really isolate (the documented SQLAlchemy recipe).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def _sqlite_begin(connection):
    connection.exec_driver_sql("BEGIN")


def prepare_engines(app):
    """Per-database engine set-up that SQLAlchemy's options cannot express."""
    with app.app_context():
        for engine in sql.engines.values():
            if engine.dialect.name == "sqlite":
                sa.event.listen(engine, "connect", _sqlite_connect)
                sa.event.listen(engine, "begin", _sqlite_begin)
