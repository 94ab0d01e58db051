"""Finding 12: a request never waits on the database for longer than the
timeouts; a cancelled statement is a 503 problem, not a hang or a 500.

A migration's lock on a table is the usual cause: here another connection holds
one (as ``ALTER TABLE`` would) while the service answers over HTTP.
"""

import time

import pytest
import sqlalchemy as sa

TOKEN = "timeouts-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def served(make_app, over_http, database_url):
    """The service on its own engine (not the test's rolled-back connection), so
    its statements really meet the other session's lock; rows it wrote go."""
    apps = []

    def serve(**settings):
        app = make_app(isolated=False, API_TOKENS=[TOKEN], **settings)
        apps.append(app)
        client = over_http(app)
        client.timeout = 15
        return client

    yield serve
    engine = sa.create_engine(database_url)
    with engine.begin() as connection:
        connection.exec_driver_sql("DELETE FROM foo")
    engine.dispose()


def assert_gave_up(reply, started, within):
    reply.problem(503)
    assert int(reply.headers["Retry-After"]) >= 1
    assert time.monotonic() - started < within


def test_a_write_waiting_on_a_lock_gives_up_with_503(served, database_url, lock_table):
    client = served(SQL_LOCK_TIMEOUT=0.5)
    with lock_table():
        started = time.monotonic()
        reply = client.request("POST", "/v1/foo/", {"name": "blocked"}, AUTH)
        assert_gave_up(reply, started, within=5)
        if not database_url.startswith("sqlite"):
            started = time.monotonic()
            assert_gave_up(client.request("GET", "/v1/foo/"), started, within=5)
    assert client.request("GET", "/v1/foo/").json()["total"] == 0
    assert client.request("POST", "/v1/foo/", {"name": "a"}, AUTH).status == 201


def test_a_statement_running_too_long_is_cancelled_with_503(
    served, database_url, lock_table
):
    """The statement timeout, apart from the lock timeout (SQLite has none)."""
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite has no statement timeout; its lock timeout is tested")
    client = served(SQL_LOCK_TIMEOUT=60, SQL_STATEMENT_TIMEOUT=0.5)
    with lock_table():
        started = time.monotonic()
        reply = client.request("GET", "/v1/foo/")
        assert_gave_up(reply, started, within=5)
    assert client.request("GET", "/v1/foo/").status == 200
