"""Test fixtures: real, isolated stores.

SQL: SQLite by default, or the database in TEST_DATABASE_URL (`make test` runs the
suite on a private PostgreSQL too). The schema is built once by the migrations;
each test runs inside a transaction that is rolled back, while the code under
test still commits (Flask-SQLAlchemy's engine is swapped for one connection in a
transaction, and sessions join it with savepoints).

Redis: a redis-server private to the run, on a free loopback port, no persistence,
flushed before every test.
"""

import os

import pytest
from flask_migrate import downgrade, upgrade

from myapp import create_app
from myapp.db import sql
from scripts.harness import Processes, redis_binary, start_redis


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """A redis-server that tests may stop and start again (same port)."""
    if redis_binary() is None:
        pytest.exit(
            "redis-server is not installed: run `make test` (installs it) or "
            "apt-get install redis-server",
            returncode=3,
        )
    with Processes() as processes:
        yield start_redis(processes, tmp_path_factory.mktemp("redis"))


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{tmp_path_factory.mktemp('sql') / 'test.db'}"


@pytest.fixture(scope="session")
def store_config(database_url, redis_server):
    """What every test app is configured with: the private stores."""
    return {
        "SQLALCHEMY_DATABASE_URI": database_url,
        "REDIS_URL": redis_server.url,
        "REDIS_KEY_PREFIX": "test:",
    }


@pytest.fixture(scope="session")
def migrated(store_config):
    """The schema, built once per run by the migrations and removed at the end."""
    app = create_app(dict(store_config))
    with app.app_context():
        upgrade()
    yield
    with app.app_context():
        downgrade(revision="base")
        sql.engine.dispose()


def isolate(app):
    """Route the app's SQL through one connection in a transaction; return undo."""
    with app.app_context():
        engines = sql.engines
        engine = engines[None]
        connection = engine.connect()
        transaction = connection.begin()
        engines[None] = connection

    def undo():
        transaction.rollback()
        connection.close()
        engines[None] = engine
        engine.dispose()

    return undo


def dispose(app):
    with app.app_context():
        sql.engine.dispose()


@pytest.fixture
def make_app(migrated, store_config, redis_server):
    """Build apps on the test stores; every SQL change is rolled back afterwards."""
    redis_server.flush()
    undos = []

    def make(isolated=True, env="testing", **overrides):
        app = create_app({**store_config, **overrides}, env=env)
        undos.append(isolate(app) if isolated else lambda: dispose(app))
        return app

    yield make
    for undo in reversed(undos):
        undo()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()
