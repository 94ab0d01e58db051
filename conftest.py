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
import shutil
import socket
import subprocess
import time

import pytest
import redis
from flask_migrate import downgrade, upgrade

from myapp import create_app
from myapp.db import sql


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """A redis-server process that tests may stop and start again (same port)."""

    def __init__(self, workdir):
        self.binary = shutil.which("redis-server")
        self.workdir = workdir
        self.port = free_port()
        self.process = None

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        self.process = subprocess.Popen(
            [self.binary, "--bind", "127.0.0.1", "--port", str(self.port)]
            + ["--save", "", "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.02)
        client.close()

    def stop(self):
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None

    def flush(self):
        client = redis.Redis.from_url(self.url)
        client.flushdb()
        client.close()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    if shutil.which("redis-server") is None:
        pytest.exit(
            "redis-server is not installed: run `make test` (installs it) or "
            "apt-get install redis-server",
            returncode=3,
        )
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


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
