"""Finding 3: what nginx answers itself is problem+json too, with X-Request-ID.

A private nginx (Debian's, with deploy/nginx-myapp.conf as its site) in front of
one uWSGI instance started with the production myapp.ini, on this run's stores.
nginx's own answers (413, 414, 400 for headers, 502 for a worker killed by
harakiri) must be problem+json with the request id the app would see, without
nginx's version; and whatever nginx accepts must reach the app, never a 502 from
a uWSGI buffer too small for it.
"""

import json
import os
import re
import secrets
import socket
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from werkzeug.http import HTTP_STATUS_CODES

from scripts.harness import (
    Processes,
    deploy_site,
    ensure_nginx,
    free_port,
    http_status,
    start_nginx,
    start_uwsgi,
    wait_until,
    work_folder,
)

ROOT = Path(__file__).resolve().parent.parent
MAX_CONTENT_LENGTH = 1024 * 1024
HARAKIRI = 2
TOKEN = "front-proxy-" + secrets.token_hex(8)
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class FrontProxy:
    def __init__(self, port, log_folder, uwsgi_log):
        self.port = port
        self.log_folder = log_folder
        self.uwsgi_log = uwsgi_log

    def logged(self, status, request_id):
        """True once nginx's access log has an answer ``status`` with that id (a
        line is written just after its response is sent)."""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            lines = (self.log_folder / "access.log").read_text().splitlines()
            if f"{status} {request_id}" in lines:
                return True
            time.sleep(0.02)
        return False


@pytest.fixture(scope="module")
def front_proxy(database_url, redis_server, migrated):
    try:
        ensure_nginx()
    except RuntimeError as error:
        pytest.skip(str(error))
    socket_address = f"127.0.0.1:{free_port()}"
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "MYAPP_ENV": "production",
        "MYAPP_SQLALCHEMY_DATABASE_URI": database_url,
        "MYAPP_REDIS_URL": redis_server.url,
        "MYAPP_REDIS_KEY_PREFIX": "test:",
        "MYAPP_API_TOKENS": TOKEN,
        # A lock outlasting harakiri, so a blocked write is killed by uWSGI.
        "MYAPP_SQL_LOCK_TIMEOUT": "20",
        "MYAPP_SQL_STATEMENT_TIMEOUT": "0",
        "MYAPP_SOCKET": socket_address,
        "MYAPP_PROCESSES": "1",
        "MYAPP_THREADS": "2",
        "MYAPP_HARAKIRI": str(HARAKIRI),
    }
    port = free_port()
    site = deploy_site([socket_address], port, free_port())
    # Not under pytest's temporary folder: nginx's workers (nobody, when run as
    # root) must reach the body buffers.
    keep = "FRONT_PROXY_KEEP"
    try:
        with (
            work_folder("myapp-front-proxy.", keep) as folder,
            Processes() as processes,
        ):
            uwsgi_log = folder / "uwsgi.log"
            start_uwsgi(processes, "uwsgi", environment, uwsgi_log)
            nginx = start_nginx(
                processes,
                folder / "nginx",
                site,
                log_format="$status $myapp_request_id",
                workers=1,
                error_level="info",
            )
            wait_until(
                lambda: http_status(port, "/ready") == 200,
                f"uWSGI behind nginx ready (see {uwsgi_log})",
                60,
                nginx.process,
            )
            yield FrontProxy(port, nginx.folder, uwsgi_log)
    finally:
        redis_server.flush()
        engine = sa.create_engine(database_url)
        with engine.begin() as connection:
            connection.exec_driver_sql("DELETE FROM foo")
        engine.dispose()


def http(front_proxy):
    return RawClient(front_proxy.port)


class RawClient:
    """Raw requests to nginx: exact paths, headers and bodies."""

    def __init__(self, port):
        self.port = port

    def send(self, raw):
        """Send raw bytes; the status, headers (lower-case names) and body back."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=20) as sock:
            sock.sendall(raw)
            received = b""
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                received += chunk
        head, _, body = received.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers.setdefault(name.strip().lower(), []).append(value.strip())
        return status, headers, body

    def request(self, method, path, body=b"", headers=(), compact=False):
        """``compact``: header lines as short as nginx takes them (``a:`` LF)."""
        head = [f"{method} {path} HTTP/1.1", "Host: api.example.com"]
        if body or method in ("POST", "PUT"):
            head.append(f"Content-Length: {len(body)}")
        head.append("Connection: close")
        separator, newline = (":", "\n") if compact else (": ", "\r\n")
        head += [f"{name}{separator}{value}" for name, value in headers]
        raw = (newline.join(head) + newline * 2).encode("latin-1") + body
        return self.send(raw)


def assert_nginx_problem(front_proxy, answer, status):
    """problem+json from nginx, with the id it logged and no version."""
    got, headers, body = answer
    assert got == status, (got, body[:300])
    assert headers["content-type"] == ["application/problem+json"], headers
    problem = json.loads(body)
    assert problem["status"] == status
    assert problem["title"] == HTTP_STATUS_CODES[status]
    assert problem["type"] == "about:blank" and problem["detail"]
    assert b"<html" not in body.lower()
    assert headers["server"] == ["nginx"], headers["server"]
    (request_id,) = headers["x-request-id"]
    assert front_proxy.logged(status, request_id)
    return request_id


def padded_bar(size):
    text = json.dumps({"name": "padded"})
    return (text + " " * (size - len(text))).encode()


def test_bodies_up_to_max_content_length_pass_one_byte_more_is_413(front_proxy):
    client = http(front_proxy)
    json_type = ("Content-Type", "application/json")
    status, headers, body = client.request(
        "POST", "/v1/bar/", padded_bar(MAX_CONTENT_LENGTH), [json_type, *AUTH.items()]
    )
    assert status == 201, body[:300]
    answer = client.request(
        "POST",
        "/v1/bar/",
        padded_bar(MAX_CONTENT_LENGTH + 1),
        [json_type, *AUTH.items()],
    )
    assert_nginx_problem(front_proxy, answer, 413)


def test_a_long_url_is_a_problem_414(front_proxy):
    answer = http(front_proxy).request("GET", "/v1/foo/?name=" + "a" * 9000)
    assert_nginx_problem(front_proxy, answer, 414)


def test_headers_too_large_for_nginx_are_a_problem_400_never_a_502(front_proxy):
    client = http(front_proxy)
    one_long_line = [("X-Long", "a" * 5000)]
    assert_nginx_problem(
        front_proxy, client.request("GET", "/health", b"", one_long_line), 400
    )
    # ~21 KB of headers passed nginx's old 4 x 8 KiB and overflowed uWSGI's 16 KiB.
    many = [(f"X-Filler-{n}", "b" * 3500) for n in range(6)]
    assert_nginx_problem(front_proxy, client.request("GET", "/health", b"", many), 400)


@pytest.mark.parametrize(
    "shape",
    [
        "a few long headers",
        "many short headers",
        "the shortest headers",
        "a long url and headers",
    ],
)
def test_whatever_nginx_accepts_reaches_the_app(front_proxy, shape):
    """Up to nginx's limits, in the shapes that swell most in a uwsgi packet."""
    client = http(front_proxy)
    path, headers = "/health", []
    if shape == "a few long headers":
        headers = [(f"X-Filler-{n}", "c" * 3900) for n in range(3)]
    elif shape == "many short headers":
        headers = [(f"X{n}", "") for n in range(100)]
    elif shape == "the shortest headers":
        headers = [("a", "")] * 100
    else:
        path = "/v1/foo/?name=" + "d" * 3900
        headers = [(f"X-Filler-{n}", "e" * 3900) for n in range(2)]
    accepted = None
    # Grow the request until nginx refuses it: every size before got the app.
    while True:
        status, answer_headers, body = client.request(
            "GET", path, b"", headers, compact=shape == "the shortest headers"
        )
        if status != 200:
            break
        accepted = len(headers)
        headers = headers + [headers[-1]] * 50
    assert accepted, (status, body[:300])
    assert status == 400, (status, body[:300])
    assert_nginx_problem(front_proxy, (status, answer_headers, body), 400)
    assert b"invalid request block size" not in front_proxy.uwsgi_log.read_bytes()


def test_the_app_sees_the_request_id_nginx_logs(front_proxy):
    client = http(front_proxy)
    status, headers, _ = client.request("GET", "/v1/foo/")
    assert status == 200
    (request_id,) = headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    assert front_proxy.logged(200, request_id)
    assert f'"request_id": "{request_id}"' in front_proxy.uwsgi_log.read_text()
    assert headers["server"] == ["myapp"]
    # A sane id from the client is kept by both; another is replaced by nginx's.
    status, headers, _ = client.request(
        "GET", "/health", b"", [("X-Request-ID", "abc-1")]
    )
    assert headers["x-request-id"] == ["abc-1"]
    too_large = padded_bar(MAX_CONTENT_LENGTH + 1)
    answer = client.request(
        "POST", "/v1/bar/", too_large, [("X-Request-ID", "abc-2"), *AUTH.items()]
    )
    assert assert_nginx_problem(front_proxy, answer, 413) == "abc-2"
    insane = "x" * 200
    status, headers, _ = client.request(
        "GET", "/health", b"", [("X-Request-ID", insane)]
    )
    (replaced,) = headers["x-request-id"]
    assert replaced != insane and front_proxy.logged(200, replaced)


def test_a_worker_killed_by_harakiri_is_a_problem_502(front_proxy, lock_table):
    """A write stuck on a lock past harakiri: uWSGI kills the worker mid-request."""
    client = http(front_proxy)
    with lock_table("foo"):
        answer = client.request(
            "POST",
            "/v1/foo/",
            b'{"name": "stuck"}',
            [("Content-Type", "application/json"), *AUTH.items()],
        )
    assert_nginx_problem(front_proxy, answer, 502)
    assert answer[1]["retry-after"] == ["5"]
    deadline = time.monotonic() + 30
    while http(front_proxy).request("GET", "/ready")[0] != 200:
        assert time.monotonic() < deadline, "the worker was not respawned"
        time.sleep(0.2)


def test_the_apps_own_errors_pass_and_nginx_pages_cannot_be_asked_for(front_proxy):
    client = http(front_proxy)
    status, headers, body = client.request("GET", "/v1/foo/2147483000")
    assert status == 404 and headers["server"] == ["myapp"]
    assert json.loads(body)["detail"] == "No foo 2147483000."
    answer = client.request("GET", "/_nginx_problem/502")
    assert_nginx_problem(front_proxy, answer, 404)
