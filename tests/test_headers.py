"""Security headers on every response, docs that still run, a Server header that
names no framework or version (also through a live server)."""

import http.client
import re
import socket
import threading
from html.parser import HTMLParser

import pytest
from werkzeug.serving import make_server

from myapp.api.security_headers import API_CSP, DOCS_CSP

COMMON = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Server": "myapp",
}


def assert_secured(response, *policies):
    """The common headers, and one of ``policies`` as CSP (default: the API's)."""
    for name, value in COMMON.items():
        assert response.headers.get_all(name) == [value], name
    csp = response.headers["Content-Security-Policy"]
    assert csp in (policies or [API_CSP])
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Request-ID"]


def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def secured_app(make_app):
    app = make_app(API_TOKENS=["t1"], RATELIMIT_DEFAULT="1000/minute")

    @app.get("/boom")
    def boom():
        raise RuntimeError("boom")

    return app


def test_every_kind_of_response_carries_the_headers(secured_app, make_app):
    client = secured_app.test_client()
    token = {"Authorization": "Bearer t1"}
    created = client.post("/v1/foo/", json={"name": "x"}, headers=token)
    location, etag = created.headers["Location"], created.headers["ETag"]
    responses = {
        201: created,
        200: client.get("/v1/foo/"),
        304: client.get(location, headers={"If-None-Match": etag}),
        400: client.get("/v1/foo/?limit=0"),
        401: client.post("/v1/foo/", json={"name": "x"}),
        404: client.get("/no/such/route"),
        405: client.put("/v1/foo/", json={}, headers=token),
        412: client.put(
            location, json={"name": "y"}, headers={"If-Match": '"x"', **token}
        ),
        413: client.post(
            "/v1/foo/",
            data=b" " * (secured_app.config["MAX_CONTENT_LENGTH"] + 1),
            content_type="application/json",
            headers=token,
        ),
        415: client.post(
            "/v1/foo/", data="x", content_type="text/plain", headers=token
        ),
        500: client.get("/boom"),
        204: client.delete(location, headers=token),
    }
    limited = make_app(RATELIMIT_DEFAULT="1/minute").test_client()
    limited.get("/v1/foo/")
    responses[429] = limited.get("/v1/foo/")
    down = make_app(REDIS_URL=f"redis://127.0.0.1:{closed_port()}/0").test_client()
    responses[503] = down.get("/v1/bar/")
    for status, response in responses.items():
        assert response.status_code == status
        assert_secured(response)
    assert_secured(client.head("/v1/foo/"))
    preflight = client.options(
        "/v1/foo/",
        headers={
            "Origin": "https://x.example",
            "Access-Control-Request-Method": "POST",
        },
    )
    assert_secured(preflight, API_CSP, DOCS_CSP)  # empty, labelled text/html


@pytest.mark.parametrize(
    "path, csp",
    [
        ("/docs", DOCS_CSP),
        ("/v1/foo/docs", DOCS_CSP),
        ("/v1/bar/docs", DOCS_CSP),
        ("/v1/foo/swagger.json", API_CSP),
        ("/swaggerui/swagger-ui-bundle.js", API_CSP),
        ("/health", API_CSP),
        ("/ready", API_CSP),
    ],
)
def test_docs_specs_and_operations_carry_the_headers(client, path, csp):
    with client.get(path) as response:
        assert response.status_code == 200
        assert_secured(response, csp)


class _Resources(HTMLParser):
    """The scripts and stylesheets a page loads, and its inline scripts."""

    def __init__(self):
        super().__init__()
        self.urls, self.inline_scripts = [], 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script":
            if attrs.get("src"):
                self.urls.append(attrs["src"])
            else:
                self.inline_scripts += 1
        elif tag == "link" and attrs.get("href"):
            self.urls.append(attrs["href"])
        elif tag == "img" and attrs.get("src"):
            self.urls.append(attrs["src"])


def _directives(csp):
    parts = (part.split() for part in csp.split(";") if part.strip())
    return {words[0]: set(words[1:]) for words in parts}


@pytest.mark.parametrize("path", ["/docs", "/v1/foo/docs"])
def test_docs_csp_admits_everything_swagger_ui_loads(client, path):
    """Same-origin assets only, and inline script/style allowed (swagger-ui needs it).

    That the page really runs is checked in a browser by the docs tests.
    """
    page = client.get(path)
    parser = _Resources()
    parser.feed(page.get_data(as_text=True))
    assert parser.urls and parser.inline_scripts >= 1
    directives = _directives(page.headers["Content-Security-Policy"])
    assert "'unsafe-inline'" in directives["script-src"] & directives["style-src"]
    assert {"'self'", "data:"} <= directives["img-src"]
    assert directives["default-src"] == {"'self'"}
    for url in parser.urls:
        assert re.match(r"/[^/]", url), f"{url} is not same-origin"
        with client.get(url) as asset:
            assert asset.status_code == 200, url


def raw_exchange(port, request, timeout=5):
    """Send ``request`` bytes to the live server; return what comes back."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def test_live_server_sends_no_framework_or_version(make_app, serve_app):
    port = serve_app(make_app(isolated=False))
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for path in ("/health", "/v1/foo/", "/no/such/route", "/docs"):
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        servers = [value for name, value in response.getheaders() if name == "Server"]
        assert servers == ["myapp"], path
        assert not re.search(r"werkzeug|python|flask", str(response.getheaders()), re.I)
    connection.close()
    # A request the server itself rejects (header line too long), unseen by the app.
    answer = raw_exchange(port, b"GET / HTTP/1.1\r\nX: " + b"a" * 70000 + b"\r\n\r\n")
    assert answer.startswith(b"HTTP/1.") and b" 431 " in answer.split(b"\r\n")[0]
    assert not re.search(rb"werkzeug|python", answer.split(b"\r\n\r\n")[0], re.I)


def test_stock_dev_server_would_name_itself(make_app):
    """Why `make run` uses its own handler: Werkzeug's adds its banner."""
    server = make_server("127.0.0.1", 0, make_app(isolated=False))
    try:
        thread = threading.Thread(target=server.handle_request, daemon=True)
        thread.start()
        answer = raw_exchange(server.server_port, b"GET /health HTTP/1.0\r\n\r\n")
        thread.join(10)
    finally:
        server.server_close()
    assert re.search(rb"Server: Werkzeug/", answer)
