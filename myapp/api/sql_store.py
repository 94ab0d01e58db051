"""Models stored in SQL through SQLAlchemy Core, with optimistic concurrency.

Every table has ``id``, ``created_at``, ``updated_at`` and a ``version`` that each
write bumps: an update or delete only applies ``WHERE version = <the one read>``,
so concurrent writes never overwrite each other unseen.
"""

import math
import select
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

# The label of the total that comes with each row of a page.
PAGE_TOTAL = "_page_total"


class SqlModel(StoredModel):
    """A resource whose rows live in ``table`` (a Flask-SQLAlchemy model's table).

    Every operation is one SQL statement, run by ``_run`` as a transaction of its
    own: a read never holds a transaction open, and a guarded write is atomic.
    """

    table = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.table is None:
            return
        table = cls.table
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
    def _bind(cls):
        """The app's engine for this table (a connection in the test harness)."""
        return sql.engines[cls.table.metadata.info.get("bind_key")]

    @classmethod
    def _run(cls, statement, consume, parameters=None):
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
    def unstorable_characters(cls):
        """PostgreSQL text cannot hold NUL."""
        dialect = cls._bind().dialect.name
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
        """The record with this id, or None."""
        if not 1 <= id <= MAX_ID:
            return None
        row = cls._run(
            cls._select_by_id, lambda result: result.mappings().first(), {"id": id}
        )
        return cls(row) if row is not None else None

    @classmethod
    def _page_statement(cls, sort, filter_names):
        """The page and count statements for one sort and set of filters, cached.

        Filter values, limit and offset are bound parameters, so the few shapes a
        model's lists can take are built once each.
        """
        key = (sort, filter_names)
        statements = cls._page_statements.get(key)
        if statements is not None:
            return statements
        table = cls.table
        conditions = [
            table.c[name] == sa.bindparam(f"filter_{name}") for name in filter_names
        ]
        if sort is None:
            order = [table.c.created_at, table.c.id]
        else:
            name, descending = sort
            column = table.c[name]
            order = [column.desc() if descending else column.asc()]
            if name != "id":
                order.append(table.c.id.desc() if descending else table.c.id.asc())
        count = sa.select(sa.func.count()).select_from(table).where(*conditions)
        page = (
            sa.select(table, count.scalar_subquery().label(PAGE_TOTAL))
            .where(*conditions)
            .order_by(*order)
            .limit(sa.bindparam("page_limit", type_=sa.Integer))
            .offset(sa.bindparam("page_offset", type_=sa.BigInteger))
        )
        statements = cls._page_statements[key] = (page, count)
        return statements

    @classmethod
    def page(cls, query):
        """A page of records and the total, in one statement (two past the end).

        The total comes from a scalar subquery beside the page's rows, so both see
        the same snapshot; only an empty page past the first has to count apart.
        """
        cls._check_storable(query.filters, where="query")
        page, count = cls._page_statement(query.sort, tuple(sorted(query.filters)))
        parameters = {f"filter_{name}": value for name, value in query.filters.items()}
        rows = cls._run(
            page,
            lambda result: result.mappings().all(),
            {**parameters, "page_limit": query.limit, "page_offset": query.offset},
        )
        if rows:
            total = rows[0][PAGE_TOTAL]
        elif query.offset == 0:
            total = 0
        else:
            total = cls._run(count, lambda result: result.scalar_one(), parameters)
        return [cls(row) for row in rows], total

    @classmethod
    def create(cls, data):
        cls._check_storable(data)
        now = utcnow()
        values = {name: data.get(name) for name in cls.writable}
        values.update(created_at=now, updated_at=now, version=1)
        # Not RETURNING: MySQL has none; SQLAlchemy uses it where it can.
        new_id = cls._run(
            cls._insert, lambda result: result.inserted_primary_key[0], values
        )
        return cls({**values, "id": new_id})

    def update(self, data):
        """Replace the writable fields; None if the row changed since it was read."""
        self._check_storable(data)
        values = {name: data.get(name) for name in self.writable}
        values.update(updated_at=utcnow(), version=self.row["version"] + 1)
        matched = self._run(
            self._update,
            lambda result: result.rowcount,
            {**values, "row_id": self.id, "row_version": self.row["version"]},
        )
        if matched != 1:
            return None
        return type(self)({**self.row, **values})

    def delete(self):
        """Delete the row; False if it changed since it was read."""
        matched = self._run(
            self._delete,
            lambda result: result.rowcount,
            {"row_id": self.id, "row_version": self.row["version"]},
        )
        return matched == 1


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


def _closed_by_server(dbapi_connection):
    """True when an idle connection has something to read: the server's farewell.

    Between requests a healthy connection has nothing to read; one the server
    closed (restart, idle timeout, terminated backend) has its last error message
    and end of file waiting. Asking costs a system call, not a round trip.
    """
    try:
        poller = select.poll()
        poller.register(dbapi_connection.fileno(), select.POLLIN)
    except Exception:  # closed on our side already
        return True
    return bool(poller.poll(0))


def _ping_when_closed(engine):
    """pool_pre_ping's guarantee without its round trip on every checkout.

    A pooled connection is pinged only when it looks closed by the server; if the
    ping fails the pool replaces it (DisconnectionError), so a database restart
    costs no request an error once the database is back.
    """

    def checkout(dbapi_connection, connection_record, connection_proxy):
        if not _closed_by_server(dbapi_connection):
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:
            raise sa.exc.DisconnectionError(str(error)) from error

    sa.event.listen(engine, "checkout", checkout)


def _mysql_timeouts(statement_seconds, lock_seconds):
    """Set each new MySQL/MariaDB connection's statement and lock timeouts.

    The variables differ: MariaDB's max_statement_time (seconds) covers every
    statement, MySQL's max_execution_time (milliseconds) only SELECTs. Lock waits
    (row locks and metadata locks, such as a migration's) take whole seconds.
    """
    lock = max(1, math.ceil(lock_seconds))

    def connect(dbapi_connection, connection_record):
        if "mariadb" in dbapi_connection.get_server_info().lower():
            statement = ("max_statement_time", statement_seconds)
        else:
            statement = ("max_execution_time", round(statement_seconds * 1000))
        with dbapi_connection.cursor() as cursor:
            cursor.execute(
                f"SET SESSION {statement[0]} = %s, lock_wait_timeout = %s,"
                " innodb_lock_wait_timeout = %s",
                (statement[1], lock, lock),
            )

    return connect


def lift_statement_timeout(connection):
    """Migrations may run long (an index on a big table): no statement timeout for
    this connection's session; the lock timeout stays, so a migration gives up
    rather than queue every request behind its lock."""
    dialect = connection.dialect
    if dialect.name == "postgresql":
        connection.exec_driver_sql("SET statement_timeout = 0")
    elif dialect.name in ("mysql", "mariadb"):
        variable = "max_statement_time" if dialect.is_mariadb else "max_execution_time"
        connection.exec_driver_sql(f"SET SESSION {variable} = 0")
    else:
        return
    connection.commit()


def prepare_engines(app):
    """Per-database engine set-up that SQLAlchemy's options cannot express."""
    config = app.config
    with app.app_context():
        for engine in sql.engines.values():
            if engine.dialect.name == "sqlite":
                sa.event.listen(engine, "connect", _sqlite_connect)
                sa.event.listen(engine, "begin", _sqlite_begin)
            elif engine.dialect.name == "postgresql":
                _ping_when_closed(engine)
            elif engine.dialect.name in ("mysql", "mariadb"):
                timeouts = _mysql_timeouts(
                    config["SQL_STATEMENT_TIMEOUT"], config["SQL_LOCK_TIMEOUT"]
                )
                sa.event.listen(engine, "connect", timeouts)
