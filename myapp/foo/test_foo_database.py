"""Foo's rows in the database: collations, row counts, timestamps, the test
transaction, outages and connections the server closed."""

import time
from datetime import datetime

import pytest
import sqlalchemy as sa

from myapp.api.fields import rfc3339
from myapp.db import sql
from myapp_testing.contract import assert_problem


def test_string_columns_have_the_models_collation(app):
    """The drift check ignores collations; on MySQL/MariaDB compare them here."""
    with app.app_context():
        connection = sql.session.connection()
        dialect = connection.dialect
        if dialect.name not in ("mysql", "mariadb"):
            pytest.skip("collations are set per column only on MySQL/MariaDB")
        inspector = sa.inspect(connection)
        checked = 0
        for table in sql.metadatas[None].sorted_tables:
            reflected = {
                c["name"]: c["type"] for c in inspector.get_columns(table.name)
            }
            for column in table.columns:
                wanted = column.type.dialect_impl(dialect)
                if isinstance(wanted, sa.types.TypeDecorator):
                    wanted = wanted.impl_instance
                # Types that choose a collation (ExactString); JSON text is ASCII.
                if isinstance(wanted, sa.String) and getattr(wanted, "charset", None):
                    actual = reflected[column.name]
                    assert (actual.charset, actual.collation) == (
                        wanted.charset,
                        wanted.collation,
                    ), f"{table.name}.{column.name}"
                    checked += 1
    assert checked


def test_update_counts_matched_rows_not_changed_rows(app):
    """The version guard relies on rowcount = rows matched (MySQL's FOUND_ROWS)."""
    client = app.test_client()
    id = client.post("/v1/foo/", json={"name": "same"}).get_json()["id"]
    with app.app_context():
        result = sql.session.execute(
            sa.text("UPDATE foo SET name = name WHERE id = :id"), {"id": id}
        )
        assert result.rowcount == 1
        sql.session.rollback()


def test_put_of_the_same_name_is_a_write(client):
    created = client.post("/v1/foo/", json={"name": "same"})
    location, etag = created.headers["Location"], created.headers["ETag"]
    first = client.put(location, json={"name": "same"}, headers={"If-Match": etag})
    assert first.status_code == 200
    assert first.get_json()["name"] == "same"
    assert first.headers["ETag"] != etag
    second = client.put(location, json={"name": "same"})
    assert second.status_code == 200
    stale = client.put(location, json={"name": "same"}, headers={"If-Match": etag})
    assert_problem(stale, 412)


def test_timestamps_keep_microseconds(app):
    client = app.test_client()
    created = client.post("/v1/foo/", json={"name": "when"}).get_json()
    with app.app_context():
        stored = sql.session.execute(
            sa.text("SELECT created_at FROM foo WHERE id = :id"), {"id": created["id"]}
        ).scalar_one()
        sql.session.rollback()
    if isinstance(stored, str):  # SQLite keeps text
        stored = datetime.fromisoformat(stored)
    assert rfc3339(stored) == created["created_at"]


def test_a_mysql_url_to_mariadb_works_too(make_app, database_url):
    """The dialect is then named "mysql", yet knows it talks to MariaDB."""
    if not database_url.startswith("mariadb+"):
        pytest.skip("needs a MariaDB server")
    url = database_url.replace("mariadb+", "mysql+", 1)
    client = make_app(SQLALCHEMY_DATABASE_URI=url).test_client()
    created = client.post("/v1/foo/", json={"name": "apple "})
    assert created.status_code == 201
    assert client.get(created.headers["Location"]).get_json() == created.get_json()
    assert client.get("/v1/foo/?name=apple").get_json()["total"] == 0
    assert client.get("/v1/foo/?name=apple%20").get_json()["total"] == 1


def test_rollback_isolation_first(client, app, database_url):
    """Writes through the API are committed for the app but not on disk."""
    assert client.post("/v1/foo/", json={"name": "isolated"}).status_code == 201
    assert client.get("/v1/foo/?name=isolated").get_json()["total"] == 1
    outside = sa.create_engine(database_url)
    with outside.connect() as connection:
        count = connection.execute(
            sa.text("SELECT count(*) FROM foo WHERE name = 'isolated'")
        ).scalar_one()
    outside.dispose()
    assert count == 0


def test_rollback_isolation_second(client):
    """Runs after the test above: nothing it wrote is visible."""
    assert client.get("/v1/foo/?name=isolated").get_json()["total"] == 0
    assert client.get("/v1/foo/").get_json()["total"] == 0


@pytest.mark.parametrize(
    "url, driver",
    [
        ("postgresql+psycopg://nobody@127.0.0.1:9/none", "psycopg"),
        ("mysql+pymysql://nobody@127.0.0.1:9/none", "pymysql"),
    ],
)
def test_unreachable_database_is_503_and_bar_keeps_serving(make_app, url, driver):
    app = make_app(isolated=False, SQLALCHEMY_DATABASE_URI=url, SQL_CONNECT_TIMEOUT=1)
    client = app.test_client()
    for response in [
        client.get("/v1/foo/"),
        client.get("/v1/foo/1"),
        client.post("/v1/foo/", json={"name": "x"}),
    ]:
        problem = assert_problem(response, 503)
        assert response.headers["Retry-After"] == "5"
        assert driver not in problem["detail"].lower()
    assert client.post("/v1/bar/", json={"name": "still here"}).status_code == 201
    ready = client.get("/ready")
    assert_problem(ready, 503)
    assert ready.get_json()["checks"] == {"sql": "unavailable", "redis": "ok"}


def test_pages_and_writes_outside_the_test_transaction(make_app):
    """The production path (an engine, autocommit on PostgreSQL), not a savepoint."""
    client = make_app(isolated=False).test_client()
    created = [client.post("/v1/foo/", json={"name": f"own {n}"}) for n in range(3)]
    try:
        assert [response.status_code for response in created] == [201] * 3
        items = [response.get_json() for response in created]
        page = client.get("/v1/foo/?limit=2")
        body = page.get_json()
        assert body == {
            "items": items[:2],
            "total": 3,
            "total_exact": True,
            "limit": 2,
            "offset": 0,
            "next_cursor": body["next_cursor"],
        }
        rest = client.get(page.headers["Link"].split(">")[0][1:]).get_json()
        assert (rest["items"], rest["next_cursor"]) == (items[2:], None)
        past = client.get("/v1/foo/?offset=5").get_json()
        assert (past["items"], past["total"]) == ([], 3)
        named = client.get("/v1/foo/?name=own 1").get_json()
        assert (named["items"], named["total"]) == ([items[1]], 1)
        location, etag = created[0].headers["Location"], created[0].headers["ETag"]
        changed = client.put(
            location, json={"name": "own 0b"}, headers={"If-Match": etag}
        )
        assert changed.status_code == 200
        assert client.get(location).get_json() == changed.get_json()
        stale = client.delete(location, headers={"If-Match": etag})
        assert_problem(stale, 412)
    finally:
        for response in created:
            client.delete(response.headers["Location"])
    assert client.get("/v1/foo/").get_json()["total"] == 0


def _server_side_id(connection):
    if connection.dialect.name == "postgresql":
        return connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
    return connection.exec_driver_sql("SELECT CONNECTION_ID()").scalar_one()


def test_a_connection_the_database_closed_is_replaced_unseen(make_app, database_url):
    """As after a database restart: the next request gets a fresh connection, no 503."""
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite has no server to close connections")
    app = make_app(isolated=False)
    client = app.test_client()
    assert client.get("/v1/foo/").status_code == 200
    with app.app_context():
        engine = sql.engine
        assert engine.pool.checkedin() == 1
        with engine.connect() as pooled:
            victim = _server_side_id(pooled)
    # Autocommit: each look at the server's activity is a fresh snapshot.
    outside = sa.create_engine(
        database_url, poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT"
    )
    if database_url.startswith("postgresql"):
        close = "SELECT pg_terminate_backend(:id)"
        gone = "SELECT count(*) FROM pg_stat_activity WHERE pid = :id"
    else:
        close = "KILL :id"
        gone = "SELECT count(*) FROM information_schema.processlist WHERE id = :id"
    with outside.connect() as connection:
        connection.execute(sa.text(close), {"id": victim})
        deadline = time.monotonic() + 10
        while connection.execute(sa.text(gone), {"id": victim}).scalar_one():
            assert time.monotonic() < deadline, "the connection was not closed"
            time.sleep(0.02)
    outside.dispose()
    for path in ("/v1/foo/", "/v1/foo/1"):
        response = client.get(path)
        assert response.status_code in (200, 404), response.get_json()
    with app.app_context():
        with sql.engine.connect() as pooled:
            assert _server_side_id(pooled) != victim
