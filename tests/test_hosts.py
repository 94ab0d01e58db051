"""Each request's host, scheme and mount point, with URL adapters bound once per
host (myapp/api/flask_app.py): every request still answers for its own."""

import flask
import pytest
from flask import Flask
from werkzeug.exceptions import HTTPException
from werkzeug.routing import RequestRedirect
from werkzeug.urls import iri_to_uri
from werkzeug.wrappers import Response

from myapp.api import flask_app
from myapp.api.flask_app import HOST_BINDINGS, SYNC_FUNCTIONS, App
from myapp.api.views import CompleteResponse

BODY = {"name": "hosted"}


def test_redirects_name_each_requests_own_host_and_scheme(client):
    first = client.get("/v1/bar", headers={"Host": "a.example"})
    second = client.get("/v1/bar", headers={"Host": "b.example:8080"})
    third = client.get("/v1/bar", base_url="https://a.example")
    again = client.get("/v1/bar", headers={"Host": "a.example"})

    assert [r.status_code for r in (first, second, third, again)] == [308] * 4
    assert first.headers["Location"] == "http://a.example/v1/bar/"
    assert second.headers["Location"] == "http://b.example:8080/v1/bar/"
    assert third.headers["Location"] == "https://a.example/v1/bar/"
    assert again.headers["Location"] == first.headers["Location"]


def test_locations_and_links_keep_the_mount_point(client):
    base = "http://api.example/prefix"
    created = client.post("/v1/bar/", json=BODY, base_url=base)
    second = client.post("/v1/bar/", json=BODY, base_url=base)
    page = client.get("/v1/bar/?limit=1", base_url=base)

    assert created.status_code == 201
    assert created.headers["Location"] == f"/prefix/v1/bar/{created.json['id']}"
    assert page.status_code == 200
    link = page.headers["Link"].removeprefix("<").partition(">")[0]
    assert link.startswith("/prefix/v1/bar/?cursor=")
    next_page = client.get(link.removeprefix("/prefix"), base_url=base)
    assert next_page.status_code == 200
    assert [page.json["items"], next_page.json["items"]] == [
        [created.json],
        [second.json],
    ]


def test_untrusted_hosts_are_refused_every_time(make_app):
    app = make_app(TRUSTED_HOSTS=["api.example"])
    client = app.test_client()
    for _ in range(2):
        refused = client.get("/v1/bar/", headers={"Host": "evil.example"})
        served = client.get("/v1/bar/", headers={"Host": "api.example"})

        assert refused.status_code == 400
        assert refused.content_type == "application/problem+json"
        assert "evil.example" in refused.json["detail"]
        assert served.status_code == 200


@pytest.mark.parametrize("host", ["bad host", "a.example:port", "ex\u00e4mple.com"])
def test_malformed_hosts_get_what_flask_answers(client, host):
    reference = client.application.url_map.bind_to_environ
    response = client.get("/v1/bar", headers={"Host": host})
    with client.application.test_request_context(headers={"Host": host}) as context:
        expected = reference(context.request.environ).server_name

    assert response.status_code == 308
    assert response.headers["Location"] == f"http://{expected}/v1/bar/"


def test_hosts_remembered_are_bounded(app):
    client = app.test_client()
    for n in range(HOST_BINDINGS + 50):
        response = client.get("/v1/bar/", headers={"Host": f"h{n}.example"})
        assert response.status_code == 200
    assert app._bind_host.cache_info().currsize == HOST_BINDINGS


@pytest.mark.parametrize("mount", ["/\u00e4", "/a b", "/%C3%A4"])
def test_locations_are_uris_as_werkzeug_makes_them(client, mount):
    created = client.post("/v1/bar/", json=BODY, base_url=f"http://api.example{mount}")
    with client.application.test_request_context(base_url=f"http://x{mount}") as c:
        root = c.request.script_root

    assert created.status_code == 201
    expected = iri_to_uri(f"{root}/v1/bar/{created.json['id']}")
    assert created.headers["Location"] == expected
    assert created.headers["Location"].isascii()


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("GET", "/v1/bar/?limit=1", None),
        ("POST", "/v1/bar/", BODY),
        ("GET", "", None),
        ("HEAD", "", None),
    ],
)
def test_complete_responses_send_what_werkzeug_would(app, method, path, body):
    """json_response's headers and body are sent as made; werkzeug's own
    fix-ups of the headers (a copy, Location as a URI, Content-Length) and its
    wrapping of the body (empty for HEAD, text encoded) would change nothing."""
    client = app.test_client()
    created = client.post("/v1/bar/", json=BODY, base_url="http://x/\u00e4")
    path = path or f"/v1/bar/{created.json['id']}"
    with app.test_request_context(
        path, method=method, json=body, base_url="http://x/\u00e4"
    ) as context:
        response = app.full_dispatch_request()
        environ = context.request.environ

        assert isinstance(response, CompleteResponse)
        sent = response.get_wsgi_headers(environ)
        assert list(sent) == list(Response.get_wsgi_headers(response, environ))
        body_sent = list(response.get_app_iter(environ))
        assert body_sent == list(Response.get_app_iter(response, environ))
        assert (body_sent == []) == (method == "HEAD")


def test_bodies_sent_as_made_still_call_back_on_close(app):
    """A view or hook may ask to be called once the body is sent."""
    closed = []

    @app.after_request
    def call_back(response):
        response.call_on_close(lambda: closed.append(response.status_code))
        return response

    served = app.test_client().post("/v1/bar/", json=BODY)
    assert closed == []
    served.close()

    assert served.status_code == 201
    assert served.json["name"] == BODY["name"]
    assert closed == [201]


def test_head_and_not_modified_carry_no_body_on_the_wire(app, over_http):
    http = over_http(app)
    created = http.request("POST", "/v1/bar/", json_body=BODY)
    item = f"/v1/bar/{created.json()['id']}"
    head = http.request("HEAD", item)
    unchanged = http.request(
        "GET", item, headers={"If-None-Match": head.headers["ETag"]}
    )

    assert created.status == 201
    assert (head.status, head.body) == (200, b"")
    assert head.headers["Content-Length"] == created.headers["Content-Length"]
    assert (unchanged.status, unchanged.body) == (304, b"")
    assert unchanged.headers["ETag"] == created.headers["ETag"]


def test_views_and_hooks_are_run_as_flask_runs_them(app):
    """Whether each is a coroutine function is asked once, and answered as
    Flask answers it: a plain function as it is, a coroutine as Flask says."""

    def plain():
        return "plain"

    async def coroutine():
        return "coroutine"

    assert app.ensure_sync(plain) is plain
    try:
        expected = Flask.ensure_sync(app, coroutine)
    except RuntimeError as refusal:
        with pytest.raises(RuntimeError, match=str(refusal)):
            app.ensure_sync(coroutine)
    else:
        assert app.ensure_sync(coroutine)() == expected() == "coroutine"
    before = app._sync.cache_info()
    for _ in range(3):
        assert app.ensure_sync(plain) is plain
    after = app._sync.cache_info()
    assert (after.hits - before.hits, after.misses) == (3, before.misses)


def test_no_cookie_sessions_even_with_a_secret_key(make_app):
    """Bearer tokens, not cookies: every request sees Flask's null session, empty
    and refusing writes, and no response sets a cookie."""
    app = make_app(SECRET_KEY="set-by-mistake")
    seen = []

    @app.get("/session-probe")
    def probe():
        seen.append(dict(flask.session))
        flask.session["user"] = "someone"
        return "written"

    client = app.test_client()
    refused = client.get("/session-probe")
    assert refused.status_code == 500
    assert refused.content_type == "application/problem+json"
    assert "Set-Cookie" not in refused.headers
    assert seen == [{}]
    created = client.post("/v1/bar/", json=BODY)
    assert created.status_code == 201
    assert "Set-Cookie" not in created.headers
    assert "Cookie" not in created.headers.get("Vary", "")


def test_views_and_hooks_remembered_are_bounded(app):
    def view_of(n):
        return lambda: n

    for n in range(SYNC_FUNCTIONS + 10):
        assert app.ensure_sync(view_of(n))() == n
    assert app._sync.cache_info().currsize == SYNC_FUNCTIONS


ADAPTER_PARTS = (
    "server_name",
    "script_name",
    "subdomain",
    "url_scheme",
    "path_info",
    "default_method",
    "query_args",
    "websocket",
)


@pytest.mark.parametrize(
    "path, query, base",
    [
        ("/v1/bar/", "", "http://api.example"),
        ("/v1/b\u00e4r/", "q=\u00e4&x=%C3%A4", "https://api.example:8443/m\u00f6unt"),
        ("/", "", "http://[::1]:8000"),
    ],
)
def test_adapters_are_those_flask_binds(app, path, query, base):
    """Each request's adapter is Flask's own, field by field."""
    with app.test_request_context(path, query_string=query, base_url=base) as context:
        made = app.create_url_adapter(context.request)
        expected = super(type(app), app).create_url_adapter(context.request)

    assert made is not expected
    for part in ADAPTER_PARTS:
        assert getattr(made, part) == getattr(expected, part), part


def _matched(adapter):
    """What matching the adapter's own request gives: the rule and values, or
    the exception's kind, code and redirect target."""
    try:
        rule, values = adapter.match(return_rule=True)
    except HTTPException as error:
        return type(error), error.code, getattr(error, "new_url", None)
    return rule, values


@pytest.mark.parametrize(
    "method, path, base",
    [
        ("POST", "/v1/bar/", "http://api.example"),
        ("GET", "/v1/bar/", "https://other.example:8443/mount"),
        ("GET", "/v1/foo/12", "http://api.example"),
        ("DELETE", "/v1/bar/", "http://api.example"),  # 405
        ("GET", "/v1/bar", "http://api.example"),  # redirect to the slash
        ("GET", "/v1/nothing/", "http://api.example"),  # 404
        ("GET", "/health", "http://[::1]:8000"),
        ("OPTIONS", "/v1/foo/", "http://api.example"),
    ],
)
def test_matches_are_werkzeugs_the_first_time_and_after(app, method, path, base):
    """A match kept is the one Werkzeug makes; what raises raises every time."""
    results = []
    for _ in range(3):
        with app.test_request_context(path, method=method, base_url=base) as context:
            made = app.create_url_adapter(context.request)
            expected = super(type(app), app).create_url_adapter(context.request)
            results.append((_matched(made), _matched(expected)))
    for ours, werkzeugs in results:
        assert ours == werkzeugs
    if results[0][0][0] is RequestRedirect:
        assert results[0][0][2] == f"{base}/v1/bar/"
    kept = app.url_map.static_matches.get(path, {})
    if isinstance(results[0][0][0], type):  # raised: nothing kept
        assert kept == {}


def test_only_matches_of_rules_without_variables_are_kept(client, app):
    created = client.post("/v1/bar/", json=BODY)
    assert client.get(f"/v1/bar/{created.json['id']}").status_code == 200
    assert client.get("/v1/bar/").status_code == 200
    assert client.get("/v1/bar/").status_code == 200

    kept = app.url_map.static_matches
    assert set(kept) == {"/v1/bar/"}
    assert {method for method, _, _ in kept["/v1/bar/"]} == {"GET", "POST"}
    assert all(rule.rule == "/v1/bar/" for rule in kept["/v1/bar/"].values())


def test_matches_kept_are_bounded(app, monkeypatch):
    monkeypatch.setattr(flask_app, "STATIC_MATCHES", 2)
    client = app.test_client()
    for path in ("/v1/bar/", "/v1/foo/", "/health", "/ready"):
        assert client.get(path).status_code == 200
    kept = app.url_map.static_matches
    assert sum(len(contexts) for contexts in kept.values()) == 2
    assert client.get("/ready").status_code == 200  # matched, not kept


def test_rules_with_defaults_give_each_request_values_of_its_own():
    """A rule's defaults are view arguments, which Flask and its hooks may change
    in place: its matches are not kept."""
    app = App(__name__)
    seen = []

    @app.get("/pages/", defaults={"page": 1})
    def pages(page):
        seen.append(flask.request.view_args.copy())
        flask.request.view_args["page"] = 99
        return str(page)

    client = app.test_client()
    assert [client.get("/pages/").text for _ in range(3)] == ["1", "1", "1"]
    assert seen == [{"page": 1}] * 3
    assert app.url_map.static_matches == {}
