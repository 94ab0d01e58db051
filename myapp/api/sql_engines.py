"""SQL connections: per-backend session settings, pings and statement timeouts."""

import math
import select
from typing import Any, Callable

import sqlalchemy as sa
from flask import Flask

from ..db import sql


def _sqlite_connect(dbapi_connection: Any, connection_record: Any) -> None:
    # pysqlite never emits BEGIN itself: take over, so transactions and savepoints
    # really isolate (the documented SQLAlchemy recipe).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def _sqlite_begin(connection: sa.Connection) -> None:
    connection.exec_driver_sql("BEGIN")


def _closed_by_server(dbapi_connection: Any) -> bool:
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


def _ping_when_closed(engine: sa.Engine) -> None:
    """pool_pre_ping's guarantee without its round trip on every checkout.

    A pooled connection is pinged only when it looks closed by the server; if the
    ping fails the pool replaces it (DisconnectionError), so a database restart
    costs no request an error once the database is back.
    """

    def checkout(
        dbapi_connection: Any, connection_record: Any, connection_proxy: Any
    ) -> None:
        if not _closed_by_server(dbapi_connection):
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:
            raise sa.exc.DisconnectionError(str(error)) from error

    sa.event.listen(engine, "checkout", checkout)


def _mysql_timeouts(
    statement_seconds: float, lock_seconds: float
) -> Callable[[Any, Any], None]:
    """Set each new MySQL/MariaDB connection's statement and lock timeouts.

    The variables differ: MariaDB's max_statement_time (seconds) covers every
    statement, MySQL's max_execution_time (milliseconds) only SELECTs. Lock waits
    (row locks and metadata locks, such as a migration's) take whole seconds.
    """
    lock = max(1, math.ceil(lock_seconds))

    def connect(dbapi_connection: Any, connection_record: Any) -> None:
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


def lift_statement_timeout(connection: sa.Connection) -> None:
    """Migrations may run long (an index on a big table): no statement timeout for
    this connection's session; the lock timeout stays, so a migration gives up
    rather than queue every request behind its lock."""
    dialect: Any = connection.dialect  # MySQL's says is_mariadb
    if dialect.name == "postgresql":
        connection.exec_driver_sql("SET statement_timeout = 0")
    elif dialect.name in ("mysql", "mariadb"):
        variable = "max_statement_time" if dialect.is_mariadb else "max_execution_time"
        connection.exec_driver_sql(f"SET SESSION {variable} = 0")
    else:
        return
    connection.commit()


def prepare_engines(app: Flask) -> None:
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
