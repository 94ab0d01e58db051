"""Fixtures for the service-wide tests: captured app logs and live servers.

The browser test and the schemathesis run need a real server on a socket. It
serves from its own threads and connections, so the per-test SQL rollback of the
root conftest.py cannot reach its writes: the server's app is not isolated, and
its rows are deleted (and Redis flushed) when the test ends.
"""

import http.client
import sqlite3
import io
import json
import logging
import secrets
import threading
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from flask import url_for
from werkzeug.serving import WSGIRequestHandler, make_server

from myapp.api.logs import AppLogHandler
from myapp.db import sql
from myapp.devserver import RequestHandler


class QuietHandler(WSGIRequestHandler):
    """No access line per request on the test output."""

    def log_request(self, code="-", size="-"):
        pass


@dataclass
class LiveServer:
    app: object
    url: str
    token: str

    def page_url(self, endpoint):
        with self.app.test_request_context():
            return self.url + url_for(endpoint)

    def spec_url(self, feature):
        return self.page_url(f"{feature}.specs")


def _delete_every_row(app):
    with app.app_context():
        for table in reversed(sql.metadatas[None].sorted_tables):
            sql.session.execute(table.delete())
        sql.session.commit()


@pytest.fixture
def live_server(make_app, redis_server):
    """The service with an API token, on a free loopback port, for one test."""
    token = secrets.token_urlsafe(16)
    app = make_app(isolated=False, API_TOKENS=[token])
    server = make_server(
        "127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler
    )
    thread = threading.Thread(target=server.serve_forever, name="live-server")
    thread.start()
    try:
        yield LiveServer(app, f"http://127.0.0.1:{server.server_port}", token)
    finally:
        server.shutdown()
        thread.join(10)
        server.server_close()
        _delete_every_row(app)
        redis_server.flush()


@pytest.fixture
def capture_log():
    """After an app is made, send its log lines to a buffer (returned)."""
    swapped = []

    def capture():
        buffer = io.StringIO()
        for name in ("myapp", "flask-limiter"):
            for handler in logging.getLogger(name).handlers:
                # Only the app's own handler: pytest adds its capture handlers too.
                if isinstance(handler, AppLogHandler):
                    swapped.append((handler, handler.setStream(buffer)))
        return buffer

    yield capture
    for handler, stream in reversed(swapped):
        handler.setStream(stream)


@pytest.fixture
def serve_app():
    """Serve any app with `make run`'s server on a free loopback port; yields start."""
    running = []

    def start(app):
        server = make_server(
            "127.0.0.1", 0, app, threaded=True, request_handler=RequestHandler
        )
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        thread.start()
        running.append((server, thread))
        return server.server_port

    yield start
    for server, thread in running:
        server.shutdown()
        server.server_close()
        thread.join(10)


PROBLEM = "application/problem+json"


@dataclass
class Reply:
    """One HTTP response, as a client on the wire sees it."""

    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self):
        return json.loads(self.body)

    def problem(self, status):
        """Check this is a problem+json of ``status``; return its body."""
        assert self.status == status, (self.status, self.body[:500])
        assert self.headers["Content-Type"] == PROBLEM, self.headers
        body = self.json()
        assert body["status"] == status
        assert set(body) >= {"type", "title", "status", "detail"}
        assert self.headers["X-Request-ID"]
        return body


class HttpClient:
    """Requests over a real socket: the path is sent exactly as given."""

    def __init__(self, port, timeout=20):
        self.port = port
        self.timeout = timeout

    def request(self, method, path, json_body=None, headers=None, body=None):
        headers = dict(headers or {})
        if json_body is not None:
            body = json.dumps(json_body).encode()
            headers.setdefault("Content-Type", "application/json")
        connection = http.client.HTTPConnection(
            "127.0.0.1", self.port, timeout=self.timeout
        )
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            return Reply(response.status, response.headers, response.read())
        finally:
            connection.close()


@pytest.fixture
def over_http(serve_app):
    """Serve an app on a free loopback port; returns an HttpClient for it."""
    return lambda app: HttpClient(serve_app(app))


@pytest.fixture
def lock_table(database_url):
    """``with lock_table("foo"):`` another session holds a lock on the table, as a
    migration's ALTER TABLE would: it blocks every write (and, but on SQLite,
    every read)."""

    @contextmanager
    def locked(table="foo"):
        url = sa.engine.make_url(database_url)
        if url.get_backend_name() == "sqlite":
            connection = sqlite3.connect(url.database, isolation_level=None)
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield
            finally:
                connection.execute("ROLLBACK")
                connection.close()
            return
        engine = sa.create_engine(url)
        try:
            with engine.connect() as connection:
                if url.get_backend_name() == "postgresql":
                    connection.exec_driver_sql(
                        f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"
                    )
                    yield
                    connection.rollback()
                else:
                    connection.exec_driver_sql(f"LOCK TABLES {table} WRITE")
                    yield
                    connection.exec_driver_sql("UNLOCK TABLES")
        finally:
            engine.dispose()

    return locked
