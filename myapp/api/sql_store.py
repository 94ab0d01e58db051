"""Models stored in SQL through SQLAlchemy Core, with optimistic concurrency.

Every table has ``id``, ``created_at``, ``updated_at`` and a ``version`` that each
write bumps: an update or delete only applies ``WHERE version = <the one read>``,
so concurrent writes never overwrite each other unseen.
"""

import hashlib
import json
import math
import operator
import select
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from werkzeug.exceptions import BadRequest, Conflict

from ..db import sql
from .fields import MAX_ID, MAX_INDEXED_LENGTH, Field
from .paging import TOTAL_BOUND, Page, SortKey, field_kind
from .metrics import store_call
from .problems import FieldConflict, MissingReference, ValidationFailed
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
        length = self.impl.length
        if dialect.name not in ("mysql", "mariadb"):
            return dialect.type_descriptor(sa.String(length))
        collation = (
            MARIADB_EXACT_COLLATION if dialect.is_mariadb else MYSQL_EXACT_COLLATION
        )
        if length > MAX_INDEXED_LENGTH:
            # Long text would not fit MySQL's row size as VARCHAR; never indexed.
            return dialect.type_descriptor(
                mysql.MEDIUMTEXT(charset="utf8mb4", collation=collation)
            )
        return dialect.type_descriptor(
            mysql.VARCHAR(length, charset="utf8mb4", collation=collation)
        )


class JsonText(sa.types.TypeDecorator):
    """A JSON value kept as text: the same column type and bytes on every database.

    (Native JSON types differ per database and MariaDB's is LONGTEXT with a check,
    which reflection and the drift test see differently.) ASCII escapes keep NUL
    and every other character storable in PostgreSQL text.
    """

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else json.dumps(value, separators=(",", ":"))

    def process_result_value(self, value, dialect):
        return None if value is None else json.loads(value)


# Numbers are IEEE doubles on every database (DOUBLE PRECISION on PostgreSQL,
# DOUBLE on MySQL/MariaDB, REAL on SQLite): each returns the double it was given,
# so a JSON number comes back as sent. (NUMERIC would add or drop digits.)
Number = sa.Double()

# Columns every table has, besides the declared fields.
SERVICE_COLUMNS = ("id", "created_at", "updated_at", "version")


def column_type(field: Field):
    """The SQL type holding a declared field's values exactly."""
    kind = field.kind
    if kind == "string":
        return ExactString(field.schema["maxLength"])
    if kind == "enum":
        return ExactString(max(len(value) for value in field.schema["enum"]))
    return {
        "date": sa.Date(),
        "date-time": Timestamp,
        "integer": sa.BigInteger(),
        "reference": sa.Integer(),
        "number": Number,
        "boolean": sa.Boolean(),
        "array": JsonText(),
    }[kind]


# PostgreSQL truncates longer identifiers (MySQL refuses those over 64).
MAX_IDENTIFIER_LENGTH = 63


def _identifier(name):
    """``name``, or when too long its start and a hash of the whole (stable)."""
    if len(name) <= MAX_IDENTIFIER_LENGTH:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: MAX_IDENTIFIER_LENGTH - 9]}_{digest}"


def list_indexes(name: str, declared) -> list[tuple[str, tuple[str, ...]]]:
    """(index name, columns) of the indexes that keep a table's lists flat.

    Lists are keyset pages on (sort keys..., id), oldest first by default, so:

    - ``ix_<table>_created_at`` on (created_at, id): the default order;
    - ``ix_<table>_<field>`` on (field, id) for every field lists sort by:
      ``?sort=field`` and ``?sort=-field`` (read backwards);
    - ``ix_<table>_<field>_created_at`` on (field, created_at, id) for every
      field lists filter by: ``?field=v`` in the default order, and the bounded
      count of any filter on it, read from the index alone.

    ``id`` is the primary key. Other combinations (several sort keys, a filter
    with another sort, a range in the default order) are served correctly with
    these, reading more rows. The scaffold's migrations write the same.
    """
    indexes = [
        (f"ix_{name}_{field.name}", (field.name, "id"))
        for field in declared
        if field.indexed
    ]
    indexes.append((f"ix_{name}_created_at", ("created_at", "id")))
    indexes += [
        (
            _identifier(f"ix_{name}_{field.name}_created_at"),
            (field.name, "created_at", "id"),
        )
        for field in declared
        if field.operators
    ]
    return indexes


def build_table(name, declared, metadata):
    """The table of a declaration: columns, unique and foreign keys, list indexes.

    Lists are served by the indexes of ``list_indexes``.
    """
    columns = [sa.Column("id", sa.Integer, primary_key=True)]
    constraints = []
    for field in declared:
        arguments = []
        if field.references:
            arguments.append(
                sa.ForeignKey(f"{field.references}.id", name=f"fk_{name}_{field.name}")
            )
        columns.append(
            sa.Column(
                field.name,
                column_type(field),
                *arguments,
                nullable=not field.required,
            )
        )
        if field.unique:
            constraints.append(
                sa.UniqueConstraint(field.name, name=f"uq_{name}_{field.name}")
            )
    columns += [
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
    ]
    indexes = [
        sa.Index(index, *columns) for index, columns in list_indexes(name, declared)
    ]
    # Never reuse the id of a deleted row (SQLite would, without AUTOINCREMENT).
    return sa.Table(
        name,
        metadata,
        *columns,
        *constraints,
        *indexes,
        sqlite_autoincrement=True,
    )


def _violation(error):
    """ "unique", "foreign key" or None: which constraint an IntegrityError broke."""
    original = error.orig
    name = getattr(original, "sqlite_errorname", None)
    if name is not None:
        if name in ("SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"):
            return "unique"
        return "foreign key" if name == "SQLITE_CONSTRAINT_FOREIGNKEY" else None
    code = original.args[0] if original.args else None
    if isinstance(code, int):  # PyMySQL: the server's error number
        if code in (1062, 1586):
            return "unique"
        return "foreign key" if code in (1216, 1217, 1451, 1452) else None
    state = getattr(original, "sqlstate", None)  # psycopg
    return {"23505": "unique", "23503": "foreign key"}.get(state)


# MAX_ID (imported): the largest id an INTEGER column holds; beyond it an id is
# simply not found.

# The label of the total that comes with each row of a page.
PAGE_TOTAL = "_page_total"

_COMPARE = {
    "eq": operator.eq,
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}


def _keyset_after(columns, after_nulls, nulls_largest):
    """Conditions for the rows after a position in the order of ``columns``.

    ``columns`` is [(column, descending)], the position is bound as ``after_<i>``
    (``after_nulls[i]`` says which values are NULL). Lexicographic: a row is
    after when its keys equal the position's up to some key and that key lies
    beyond. NULLs sort as the database sorts them: largest on PostgreSQL,
    smallest on SQLite and MySQL/MariaDB. The leading key also gets a plain
    bound, redundant with the rest, so the database seeks its index to the
    position instead of reading the order from its start.
    """

    def value(index):
        return sa.bindparam(f"after_{index}", type_=columns[index][0].type)

    def equal(index):
        column = columns[index][0]
        return column.is_(None) if after_nulls[index] else column == value(index)

    def beyond(index, or_equal=False):
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


class SqlModel(StoredModel):
    """A resource whose rows live in the table its declaration derives.

    Every operation is one SQL statement, run by ``_run`` as a transaction of its
    own: a read never holds a transaction open, and a guarded write is atomic.
    Unique values and references are enforced by the database's constraints; the
    errors it raises become 409 and 422 problems.
    """

    table = None
    # Where the table is declared: the app's models share Flask-SQLAlchemy's.
    metadata = sql.metadata
    id_schema = {"type": "integer", "minimum": 1}
    lists_by_fields = True

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("fields") is None:
            return
        cls.table = table = build_table(cls.resource, cls.declared, cls.metadata)
        cls._readers = [(field.name, _reader(field)) for field in cls.declared]
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
        row = self.row
        document = {"id": row["id"]}
        for name, read in self._readers:
            value = row[name]
            if value is not None:
                document[name] = read(value)
        document["created_at"] = rfc3339(row["created_at"])
        document["updated_at"] = rfc3339(row["updated_at"])
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
    @store_call("sql", "get")
    def get(cls, id):
        """The record with this id, or None."""
        if not 1 <= id <= MAX_ID:
            return None
        row = cls._run(
            cls._select_by_id, lambda result: result.mappings().first(), {"id": id}
        )
        return cls(row) if row is not None else None

    @classmethod
    def order_keys(cls, sort):
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
    def position_from_json(cls, sort, values):
        """A cursor's position, typed back by each key's field schema."""
        keys = cls.order_keys(sort)
        if not isinstance(values, list) or len(values) != len(keys):
            raise ValueError("a position of another order")
        properties = cls.read_schema["properties"]
        typed = []
        for key, value in zip(keys, values):
            if value is None and cls.table.c[key.name].nullable:
                typed.append(None)
                continue
            kind = field_kind(properties[key.name])
            if kind in ("integer", "number", "boolean"):
                expected = {"integer": int, "number": (int, float), "boolean": bool}
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
    def _page_statement(cls, shape):
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
            _COMPARE[operator](
                table.c[name], sa.bindparam(f"filter_{index}", type_=table.c[name].type)
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
                *_keyset_after(columns, after_nulls, dialect == "postgresql")
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
    def page(cls, query):
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

    @classmethod
    def _column_values(cls, data):
        """Every writable column's value for a valid write document (None: unset)."""
        values = dict.fromkeys(cls.writable)
        for name, value in data.items():
            if value is not None:
                values[name] = cls.by_name[name].store_value(value)
        return values

    @classmethod
    @store_call("sql", "create")
    def create(cls, data):
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
    def update(self, data):
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
    def delete(self):
        """Delete the row; False if it changed since it was read."""
        try:
            matched = self._run(
                self._delete,
                lambda result: result.rowcount,
                {"row_id": self.id, "row_version": self.row["version"]},
            )
        except sa.exc.IntegrityError as error:
            if _violation(error) != "foreign key":
                raise
            raise self._still_referenced() from None
        return matched == 1

    @classmethod
    def _words(cls):
        return cls.resource.replace("_", " ")

    @classmethod
    def _exists(cls, table, condition):
        statement = sa.select(sa.literal(1)).select_from(table).where(condition)
        return cls._run(statement.limit(1), lambda result: result.first()) is not None

    @classmethod
    def _refused_write(cls, error, values, own_id):
        """The problem for a write the database refused, naming the fields.

        The constraint decided; the reads here only find which field to name (if a
        concurrent write changed things meanwhile, every candidate is named).
        """
        violation = _violation(error)
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
                    (target := cls.metadata.tables[field.references]),
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

    def _still_referenced(self):
        """409 naming the features whose records refer to this one."""
        referring = []
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


def _reader(field):
    """How a declared field's column value becomes its JSON value."""
    if field.kind == "date-time":
        return rfc3339
    if field.kind == "date":
        return date.isoformat
    return _same


def _same(value):
    return value


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
