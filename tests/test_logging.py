"""Logs: a request id in every line; in production one JSON line per request."""

import json
import re
import socket

import pytest

ACCESS_FIELDS = {"method", "path", "status", "duration_ms", "client", "request_id"}


def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def json_lines(buffer):
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


@pytest.fixture
def production_app(make_app):
    def make(**overrides):
        app = make_app(env="production", API_TOKENS=["t1"], **overrides)

        @app.get("/boom")
        def boom():
            raise RuntimeError("boom: internal detail")

        return app

    return make


def test_one_json_line_per_request(production_app, capture_log):
    app = production_app()
    log = capture_log()
    client = app.test_client()
    responses = [
        client.get("/v1/foo/?limit=5", headers={"X-Request-ID": "client-chosen-1"}),
        client.post("/v1/foo/", json={"name": "x"}),
        client.get("/no/such/route"),
        client.delete("/v1/foo/"),
    ]
    lines = json_lines(log)
    assert [line["logger"] for line in lines] == ["myapp.access"] * len(responses)
    for line, response in zip(lines, responses):
        assert set(line) >= ACCESS_FIELDS | {"time", "level", "message"}
        assert line["request_id"] == response.headers["X-Request-ID"]
        assert line["status"] == response.status_code
        assert line["client"] == "127.0.0.1"
        assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
        assert line["level"] == "INFO"
    assert lines[0]["request_id"] == "client-chosen-1"
    assert [(line["method"], line["path"], line["status"]) for line in lines] == [
        ("GET", "/v1/foo/", 200),
        ("POST", "/v1/foo/", 401),
        ("GET", "/no/such/route", 404),
        ("DELETE", "/v1/foo/", 405),
    ]


def test_the_client_is_the_forwarded_address_behind_a_trusted_proxy(
    production_app, capture_log
):
    app = production_app(TRUSTED_PROXIES=1)
    log = capture_log()
    app.test_client().get(
        "/health",
        headers={"X-Forwarded-For": "203.0.113.7"},
        environ_base={"REMOTE_ADDR": "10.0.0.1"},
    )
    assert json_lines(log)[0]["client"] == "203.0.113.7"


def test_a_500_logs_its_error_id_with_the_request_id(production_app, capture_log):
    app = production_app()
    log = capture_log()
    response = app.test_client().get("/boom", headers={"X-Request-ID": "trace-500"})
    body = response.get_json()
    assert response.status_code == 500
    assert "internal detail" not in response.get_data(as_text=True)
    error, access = json_lines(log)
    assert error["level"] == "ERROR"
    assert body["error_id"] in error["message"]
    assert body["error_id"] in body["detail"]
    assert error["request_id"] == access["request_id"] == "trace-500"
    assert "RuntimeError: boom: internal detail" in error["exception"]
    assert access["status"] == 500


def test_warnings_carry_the_request_id(production_app, capture_log):
    app = production_app(
        REDIS_URL=f"redis://127.0.0.1:{closed_port()}/0",
        RATELIMIT_DEFAULT="100/minute",
    )
    log = capture_log()
    response = app.test_client().get("/v1/bar/", headers={"X-Request-ID": "outage"})
    assert response.status_code == 503
    lines = json_lines(log)
    loggers = {line["logger"] for line in lines}
    assert {"flask-limiter", "myapp.api.problems", "myapp.access"} <= loggers
    assert all(line["request_id"] == "outage" for line in lines)


def test_every_line_carries_the_request_id_in_development_too(make_app, capture_log):
    app = make_app(env="development")

    @app.get("/boom")
    def boom():
        raise RuntimeError("boom")

    log = capture_log()
    app.test_client().get("/boom", headers={"X-Request-ID": "dev-trace"})
    app.test_client().get("/v1/foo/", headers={"X-Request-ID": "dev-trace"})
    records = re.findall(r"^(?:INFO|WARNING|ERROR) .*$", log.getvalue(), re.M)
    assert len(records) >= 3  # the error, and an access line for each request
    assert all(line.split()[1] == "[dev-trace]" for line in records), records


def test_tests_write_no_access_log(make_app, capture_log):
    app = make_app()
    log = capture_log()
    app.test_client().get("/v1/foo/")
    assert log.getvalue() == ""
