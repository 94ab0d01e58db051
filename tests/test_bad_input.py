"""Bad input at scale: generated requests at every route of the app.

Whatever the method, path, id, query string, headers and body: never a 5xx, every
error is problem+json, and a rejected request (or any read) changes no store.
Huge bodies are refused (413) without being read; deep JSON is a 400. Every
feature in FEATURES is under fire, with bodies and filters drawn from its
declared fields (valid values of each type and bound, and anything else).
"""

import json
import re
import socket
import time
from urllib.parse import quote, urlencode

import pytest
import redis
import sqlalchemy as sa
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from myapp import FEATURES
from myapp.api.bodies import MAX_DEPTH
from myapp.api.model import MODELS
from myapp_testing.contract import assert_problem, example_body
from myapp.db import sql

TOKEN = "fuzz-token"
PROBLEM = "application/problem+json"
HUGE = 10 * 1024 * 1024
SAFE_METHODS = {"GET", "HEAD", "OPTIONS", "TRACE"}
METHODS = sorted(SAFE_METHODS | {"POST", "PUT", "PATCH", "DELETE", "PROPFIND"})
# Stands for the id of a resource that exists, in a generated path.
EXISTING = object()
# Every feature's collection, and its model.
COLLECTIONS = {
    f"/v1/{blueprint.name}/": MODELS[blueprint.name] for blueprint in FEATURES
}
WRITABLE = set(COLLECTIONS)


class CountingBody:
    """A request body of ``size`` bytes, made as it is read, counting what is read.

    Seekable because Werkzeug's test client measures its length that way.
    """

    def __init__(self, size):
        self.size = size
        self.position = 0
        self.read_bytes = 0

    def read(self, size=-1):
        left = self.size - self.position
        size = left if size is None or size < 0 else min(size, left)
        self.position += size
        self.read_bytes += size
        return b" " * size

    def readline(self, size=-1):
        return self.read(size)

    def tell(self):
        return self.position

    def seek(self, offset, whence=0):
        base = {0: 0, 1: self.position, 2: self.size}[whence]
        self.position = base + offset
        return self.position


def nested(depth, opener, field="name"):
    """A body whose ``field`` nests ``depth`` arrays or objects."""
    closer = "]" if opener == "[" else "}"
    inner = "1" if opener != "[" else ""
    return f'{{"{field}": ' + opener * depth + inner + closer * depth + "}"


# --- strategies ----------------------------------------------------------------

header_text = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
    max_size=60,
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=15,
)
any_text = st.text(st.characters(exclude_categories=()), max_size=130)


def mostly(likely, other):
    """``likely`` about 3 times in 4, else ``other``: steers past the first checks
    (route, method, token, media type) so that bodies and ids get tested too."""
    return st.integers(0, 3).flatmap(lambda n: other if n == 3 else likely)


def _offset(minutes):
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def valid_values(field):
    """Values of ``field``'s type within its bounds (some a store may still refuse)."""
    kind, schema = field.kind, field.schema
    if kind == "string":
        return st.text(
            min_size=schema.get("minLength", 0), max_size=schema["maxLength"]
        )
    if kind == "enum":
        return st.sampled_from(schema["enum"])
    if kind == "date":
        return st.dates().map(lambda day: day.isoformat())
    if kind == "date-time":
        return st.tuples(st.datetimes(), st.integers(-23 * 60 - 59, 23 * 60 + 59)).map(
            lambda drawn: drawn[0].isoformat() + _offset(drawn[1])
        )
    if kind in ("integer", "reference"):
        within = st.integers(schema["minimum"], schema["maximum"])
        return st.integers(1, 5) | within if kind == "reference" else within
    if kind == "number":
        low, high = schema.get("minimum"), schema.get("maximum")
        return st.floats(low, high, allow_nan=False, allow_infinity=False) | (
            st.integers(
                -(2**60) if low is None else int(low),
                2**60 if high is None else int(high),
            )
        )
    if kind == "boolean":
        return st.booleans()
    items = st.text(max_size=schema["items"]["maxLength"])
    return st.lists(items, max_size=schema["maxItems"])


def field_values(field):
    """Mostly valid values of ``field``, and any JSON value or text now and then."""
    return mostly(valid_values(field), json_values | any_text)


def body_strategy(model):
    """Bodies for ``model``: its fields' values, read-only and unknown members."""
    required = {f.name: field_values(f) for f in model.declared if f.required}
    optional = {f.name: field_values(f) for f in model.declared if not f.required}
    well_formed = st.fixed_dictionaries(required, optional=optional)
    with_extras = st.fixed_dictionaries(
        required,
        optional={
            **optional,
            "id": json_values,
            "created_at": json_values,
            "x": json_values,
        },
    )
    first = model.declared[0].name
    return mostly(
        st.one_of(well_formed.map(json.dumps), with_extras.map(json.dumps)),
        st.one_of(
            st.none(),
            st.binary(max_size=200),
            json_values.map(json.dumps),
            st.tuples(st.integers(1, 3000), st.sampled_from(["[", '{"a":'])).map(
                lambda args: nested(*args, field=first)
            ),
            st.just(HUGE),
        ),
    )


BODIES = {collection: body_strategy(model) for collection, model in COLLECTIONS.items()}
# Routes of no feature (ops, docs) get the bodies of any.
any_body = st.sampled_from(sorted(BODIES)).flatmap(BODIES.get)


def bodies_for(rule):
    collection = rule.split("<", 1)[0]
    return BODIES.get(collection, any_body)


FILTERED = sorted(
    {
        parameter
        for model in COLLECTIONS.values()
        for name, operators in model.filters.items()
        for parameter in [name] + [f"{name}[{op}]" for op in operators if op != "eq"]
    }
)
segments = mostly(
    st.just(EXISTING),
    st.one_of(
        st.integers(-(2**70), 2**70).map(str),
        st.text(max_size=40),
        st.sampled_from(["..", "../../etc/passwd", "0" * 32, "a" * 300, "%00"]),
    ),
)
queries = st.one_of(
    st.none(),
    st.lists(
        st.tuples(
            st.sampled_from(["limit", "offset", "sort", "cursor", *FILTERED])
            | st.text(max_size=8),
            st.integers(-(2**64), 2**64).map(str) | st.text(max_size=20),
        ),
        max_size=4,
    ).map(urlencode),
    st.text(max_size=40).map(lambda text: quote(text, safe="=&")),
)
media_types = st.sampled_from(
    [
        "application/json",
        "application/merge-patch+json",
        "application/json; charset=utf-8",
        "application/json-patch+json",
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "",
    ]
)
entity_tags = st.sampled_from(["*", '"x"', 'W/"x"', "", ",", '"a", "b"'])
authorizations = mostly(
    st.just(f"Bearer {TOKEN}"),
    st.sampled_from([None, "Bearer nope", "Basic x", f"bearer  {TOKEN} "])
    | header_text.map("Bearer ".__add__),
)
content_types = mostly(
    st.sampled_from(["application/json", "application/merge-patch+json"]),
    st.none() | media_types | header_text,
)
headers = st.fixed_dictionaries(
    {"Authorization": authorizations, "Content-Type": content_types},
    optional={
        "If-Match": entity_tags | header_text,
        "If-None-Match": entity_tags | header_text,
        "X-Request-ID": header_text,
        "Accept": st.sampled_from(["application/json", "text/html"]) | header_text,
        "Origin": header_text,
        "X-Forwarded-For": header_text,
        "Range": header_text,
        "Content-Encoding": st.sampled_from(["gzip", "identity"]) | header_text,
        "Accept-Encoding": header_text,
    },
).map(lambda drawn: {name: value for name, value in drawn.items() if value is not None})


# --- the app under fire --------------------------------------------------------


class Target:
    """The app, a client with the token, and what its stores hold."""

    def __init__(self, app, redis_url):
        self.app = app
        self.client = app.test_client()
        self.raw_redis = redis.Redis.from_url(redis_url)
        self.prefix = app.config["REDIS_KEY_PREFIX"]
        self.methods = {}
        for rule in app.url_map.iter_rules():
            self.methods.setdefault(rule.rule, set()).update(rule.methods)
        self.rules = sorted(self.methods)
        self.api_rules = [
            rule for rule in self.rules if rule.startswith(tuple(WRITABLE))
        ]

    def stored(self):
        """Every SQL row and every Redis key (with its value) of the app."""
        with self.app.app_context():
            rows = {
                table.name: sorted(
                    map(tuple, sql.session.execute(sa.select(table))), key=repr
                )
                for table in sql.metadata.sorted_tables
            }
        keys = self.raw_redis.scan_iter(f"{self.prefix}*")
        return rows, {key: self.raw_redis.dump(key) for key in keys}

    def existing_id(self, collection):
        """The id of a resource in ``collection``, made if there is none."""
        page = self.client.get(collection).get_json()
        if page["items"]:
            return str(page["items"][0]["id"])
        token = {"Authorization": f"Bearer {TOKEN}"}
        model = COLLECTIONS[collection]
        # A reference names an existing record (the fuzzing may have made some).
        made = {
            (field.references, 0): int(self.existing_id(f"/v1/{field.references}/"))
            for field in model.declared
            if field.references
        }
        body = example_body(model, self.client, headers=token, made=made)
        created = self.client.post(collection, json=body, headers=token)
        return str(created.get_json()["id"])

    def path(self, rule, values):
        """``rule`` with its <arguments> replaced by ``values`` (URL-quoted)."""
        collection = rule.split("<", 1)[0]
        parts = iter(values)

        def fill(_):
            value = next(parts)
            if value is EXISTING:
                return (
                    self.existing_id(collection) if collection in WRITABLE else "x.js"
                )
            return quote(value, safe="")

        return re.sub(r"<[^>]+>", fill, rule)


@pytest.fixture
def target(make_app, redis_server):
    app = make_app(API_TOKENS=[TOKEN])
    target = Target(app, redis_server.url)
    yield target
    target.raw_redis.close()


def check(target, method, url, request_headers, body):
    """Send one request; assert the contract holds for whatever it was."""
    before = target.stored()
    kwargs = {}
    if body == HUGE:
        stream = CountingBody(HUGE)
        kwargs = {"input_stream": stream, "content_length": HUGE}
    elif body is not None:
        kwargs["data"] = body
    with target.client.open(
        url, method=method, headers=request_headers, **kwargs
    ) as response:
        status = response.status_code
        assert status < 500, response.get_data(as_text=True)
        assert response.headers["X-Request-ID"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        if status >= 400:
            assert response.mimetype == PROBLEM
            if method != "HEAD":
                problem = response.get_json()
                assert problem["status"] == status
                assert set(problem) >= {"type", "title", "status", "detail"}
    if body == HUGE:
        assert stream.read_bytes == 0
    event(f"{method} {status}")
    if status >= 400 or method in SAFE_METHODS:
        assert target.stored() == before, f"{method} {url} answered {status}"


@settings(
    max_examples=500,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(data=st.data())
def test_generated_requests_never_break_the_contract(target, data):
    rule = data.draw(
        mostly(st.sampled_from(target.api_rules), st.sampled_from(target.rules)),
        label="rule",
    )
    values = [data.draw(segments) for _ in re.findall(r"<[^>]+>", rule)]
    own = target.methods[rule]
    method = data.draw(
        mostly(
            st.sampled_from(sorted(own - SAFE_METHODS or own)), st.sampled_from(METHODS)
        ),
        label="method",
    )
    query = data.draw(queries, label="query")
    request_headers = data.draw(headers, label="headers")
    body = data.draw(bodies_for(rule), label="body")
    url = target.path(rule, values) + (f"?{query}" if query else "")
    check(target, method, url, request_headers, body)


# --- huge and deep bodies, every write route -------------------------------------


def write_routes(target):
    """(method, path) of every write: the collections' POST, the items' PUT/PATCH."""
    routes = []
    for collection in sorted(WRITABLE):
        location = f"{collection}{target.existing_id(collection)}"
        routes += [("POST", collection), ("PUT", location), ("PATCH", location)]
    return routes


def test_a_10_mb_body_is_refused_unread(target):
    token = {"Authorization": f"Bearer {TOKEN}"}
    before = None
    for method, path in write_routes(target):
        before = before or target.stored()
        stream = CountingBody(HUGE)
        response = target.client.open(
            path,
            method=method,
            input_stream=stream,
            content_length=HUGE,
            content_type="application/json",
            headers=token,
        )
        assert_problem(response, 413)
        assert stream.read_bytes == 0, f"{method} {path} read the body"
    assert target.stored() == before


def test_a_chunked_10_mb_body_is_cut_off_at_the_limit(target):
    """With no declared length the body is read up to the limit, then 413."""
    limit = target.app.config["MAX_CONTENT_LENGTH"]
    stream = CountingBody(HUGE)
    response = target.client.post(
        "/v1/foo/",
        input_stream=stream,
        content_type="application/json",
        headers={"Authorization": f"Bearer {TOKEN}", "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert_problem(response, 413)
    assert stream.read_bytes == limit + 1


def chunked_post(port, path, body):
    """POST ``body`` with Transfer-Encoding: chunked; the status line's code."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head.encode())
        for start in range(0, len(body), 65536):
            chunk = body[start : start + 65536]
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        sock.sendall(b"0\r\n\r\n")
        return int(sock.recv(65536).split(b" ", 2)[1])


def test_a_live_server_takes_chunked_bodies_up_to_the_limit(make_app, serve_app):
    app = make_app(isolated=False)
    port = serve_app(app)
    limit = app.config["MAX_CONTENT_LENGTH"]
    document = b'{"name": "chunked"}'
    exact = document + b" " * (limit - len(document))
    assert chunked_post(port, "/v1/bar/", exact) == 201
    assert chunked_post(port, "/v1/bar/", exact + b" ") == 413


def test_a_live_server_answers_413_before_the_body_is_sent(make_app, serve_app):
    port = serve_app(make_app(isolated=False))
    head = (
        "POST /v1/foo/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/json\r\nContent-Length: {HUGE}\r\n\r\n"
    )
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head.encode() + b'{"name": "' + b"x" * 1024)
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert b"application/problem+json" in answer
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("opener", ["[", '{"a":'])
@pytest.mark.parametrize("depth", [MAX_DEPTH - 1, MAX_DEPTH, 975, 5000, 150_000])
def test_deeply_nested_json_is_400_everywhere(target, opener, depth):
    token = {"Authorization": f"Bearer {TOKEN}"}
    routes = write_routes(target)
    before = target.stored()
    for method, path in routes:
        collection = "/".join(path.split("/")[:3]) + "/"
        # A field of the resource's own: at the limit validation reaches it.
        body = nested(depth, opener, field=COLLECTIONS[collection].declared[0].name)
        content_type = "application/merge-patch+json"
        if method != "PATCH":
            content_type = "application/json"
        response = target.client.open(
            path, method=method, data=body, content_type=content_type, headers=token
        )
        # At the limit the document reaches validation (nested is no field's type).
        problem = assert_problem(response, 400, with_errors=depth <= MAX_DEPTH - 1)
        if depth > MAX_DEPTH - 1:
            assert "levels deep" in problem["detail"]
    assert target.stored() == before
