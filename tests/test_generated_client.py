"""A Python client generated from /openapi.json drives every feature, typed.

openapi-python-client (pinned in requirements-dev.txt) generates a client from
the whole service's OpenAPI 3.1 document as a live server serves it, once per
test session, into a temporary folder (never committed); the tests import it and
go through every feature in FEATURES with its typed models: create (and its
replay by Idempotency-Key), get (ETag, 304), list (an offset page, and a cursor
page where the feature offers cursors), replace with If-Match (200, then 412 with
the old tag), patch, delete, and the documented problems (400 with errors, 401,
404). A document that stops generating, or a client that no longer round-trips,
fails here.
"""

import datetime
import importlib
import inspect
import subprocess
import sys
import threading
import typing
from pathlib import Path

import pytest
from werkzeug.serving import WSGIRequestHandler, make_server

from myapp import FEATURES, create_app
from myapp.api.fields import REFERENCES

PACKAGE = "myapp_client"
# No post-generation hooks (ruff): the client is imported, never read or kept.
GENERATOR_CONFIG = "project_name_override: myapp-client\npost_hooks: []\n"


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code="-", size="-"):
        pass


def _generate(url, folder):
    config = folder / "config.yaml"
    config.write_text(GENERATOR_CONFIG)
    generator = Path(sys.executable).with_name("openapi-python-client")
    command = [str(generator), "generate", "--url", url, "--config", str(config)]
    command += ["--meta", "none", "--output-path", str(folder / PACKAGE)]
    result = subprocess.run(
        [*command, "--fail-on-warning"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, (
        f"openapi-python-client could not generate a client from {url}:\n"
        f"{result.stdout}\n{result.stderr}"
    )


@pytest.fixture(scope="session")
def service_document_and_client(tmp_path_factory, migrated, store_config):
    """(the served /openapi.json, the imported generated client), once a session."""
    app = create_app(dict(store_config))
    server = make_server(
        "127.0.0.1", 0, app, threaded=True, request_handler=_QuietHandler
    )
    thread = threading.Thread(target=server.serve_forever, name="openapi-server")
    thread.start()
    folder = tmp_path_factory.mktemp("generated-client")
    try:
        url = f"http://127.0.0.1:{server.server_port}/openapi.json"
        _generate(url, folder)
        document = app.test_client().get("/openapi.json").get_json()
    finally:
        server.shutdown()
        thread.join(10)
        server.server_close()
    sys.path.insert(0, str(folder))
    try:
        yield document, importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(folder))
        for name in [m for m in sys.modules if m.partition(".")[0] == PACKAGE]:
            del sys.modules[name]


class FeatureClient:
    """One feature's generated operations, found through its tag in the document."""

    def __init__(self, document, package, feature, live_server):
        self.document = document
        self.package = package
        self.live_server = live_server
        self.operations = {}
        self.documented = {}
        for path, item in document["paths"].items():
            for method, operation in item.items():
                if method == "parameters" or operation["tags"] != [feature]:
                    continue
                role = method if "{" in path else f"{method} collection"
                self.documented[role] = operation
                self.operations[role] = importlib.import_module(
                    f"{PACKAGE}.api.{feature}.{operation['operationId']}"
                )
        client_module = importlib.import_module(f"{PACKAGE}.client")
        options = {"base_url": live_server.url, "raise_on_unexpected_status": True}
        self.anonymous = client_module.Client(**options)
        self.writer = client_module.AuthenticatedClient(
            token=live_server.token, **options
        )
        self.stranger = client_module.AuthenticatedClient(
            token="not-" + live_server.token, **options
        )

    def other(self, feature):
        """The same client's operations on another feature."""
        return FeatureClient(self.document, self.package, feature, self.live_server)

    def call(self, role, *args, **kwargs):
        return self.operations[role].sync_detailed(*args, **kwargs)

    def body_type(self, role):
        """The typed model an operation's body is (the first, if several)."""
        hint = typing.get_type_hints(self.operations[role].sync_detailed)["body"]
        types = typing.get_args(hint) or (hint,)
        return next(kind for kind in types if kind.__name__ != "Unset")

    def parameters(self, role):
        return inspect.signature(self.operations[role].sync_detailed).parameters

    def write_schema(self):
        """The JSON Schema of the create body, as the document references it."""
        content = self.documented["post collection"]["requestBody"]["content"]
        name = content["application/json"]["schema"]["$ref"].rpartition("/")[2]
        return self.document["components"]["schemas"][name]


def _example(schema, text):
    """A valid value of a declared field (``text`` for plain strings)."""
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "string":
        if schema.get("format") == "date":
            return "2026-01-02"
        if schema.get("format") == "date-time":
            return "2026-01-02T03:04:05.000006Z"
        text = text[: schema.get("maxLength", len(text))]
        return text + "x" * max(0, schema.get("minLength", 0) - len(text))
    if kind in ("integer", "number"):
        return schema.get("minimum", 1)
    if kind == "boolean":
        return True
    if kind == "array":
        return [_example(schema["items"], text)] * schema.get("minItems", 0)
    raise ValueError(f"no example for {schema}")


def _plain_text_field(schema):
    """A writable string field taking any text (a required one if there is one):
    what the round trip changes."""
    names = [*schema.get("required", []), *schema["properties"]]
    for name in names:
        field = schema["properties"][name]
        if field.get("type") == "string" and not {"enum", "format"} & set(field):
            return name
    raise LookupError("no plain text field to change")


def _body(feature, text):
    """A valid create body: the required fields, a referenced record made first."""
    schema = feature.write_schema()
    body = {}
    for name in schema.get("required", []):
        field = schema["properties"][name]
        if REFERENCES in field:
            other = feature.other(field[REFERENCES])
            body[name] = _created(other, f"referenced by {text}")[1].parsed.id
        else:
            body[name] = _example(field, text)
    return body


@pytest.fixture(params=[blueprint.name for blueprint in FEATURES])
def feature(request, service_document_and_client, live_server):
    document, package = service_document_and_client
    return FeatureClient(document, package, request.param, live_server)


def _created(feature, text, **options):
    sent = _body(feature, text)
    response = feature.call(
        "post collection",
        client=feature.writer,
        body=feature.body_type("post collection").from_dict(sent),
        **options,
    )
    assert response.status_code == 201, response.content
    return sent, response


def test_create_get_list_replace_patch_delete(feature):
    sent, created = _created(feature, "made by the generated client")
    resource = created.parsed
    assert type(resource).__name__ != "Problem"
    assert isinstance(resource.created_at, datetime.datetime)
    for name, value in sent.items():
        assert resource.to_dict()[name] == value
    assert created.headers["Location"].endswith(f"/{resource.id}")
    etag = created.headers["ETag"]

    got = feature.call("get", resource.id, client=feature.anonymous)
    assert got.status_code == 200
    assert isinstance(got.parsed, type(resource)) and got.parsed == resource
    assert got.headers["ETag"] == etag
    unchanged = feature.call(
        "get", resource.id, client=feature.anonymous, if_none_match=etag
    )
    assert unchanged.status_code == 304 and unchanged.content == b""
    assert unchanged.headers["ETag"] == etag

    _, second = _created(feature, "the second one", idempotency_key="second")
    _, replayed = _created(feature, "the second one", idempotency_key="second")
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert replayed.parsed == second.parsed
    first_page = feature.call("get collection", client=feature.anonymous, limit=1)
    assert first_page.status_code == 200
    assert [item.id for item in first_page.parsed.items] == [resource.id]
    pages = [{"offset": 1}]
    if "cursor" in feature.parameters("get collection"):
        pages.append({"cursor": first_page.parsed.next_cursor})
    for page in pages:
        following = feature.call(
            "get collection", client=feature.anonymous, limit=1, **page
        )
        assert following.status_code == 200, (page, following.content)
        assert [item.id for item in following.parsed.items] == [second.parsed.id]
        assert isinstance(following.parsed.items[0], type(resource))

    schema = feature.write_schema()
    text_field = _plain_text_field(schema)
    replacement = _body(feature, "replaced by the generated client")
    replacement[text_field] = _example(schema["properties"][text_field], "replaced")
    body_type = feature.body_type("put")
    replaced = feature.call(
        "put",
        resource.id,
        client=feature.writer,
        body=body_type.from_dict(replacement),
        if_match=etag,
    )
    assert replaced.status_code == 200, replaced.content
    assert replaced.parsed.to_dict()[text_field] == replacement[text_field]
    assert replaced.headers["ETag"] != etag
    stale = feature.call(
        "put",
        resource.id,
        client=feature.writer,
        body=body_type.from_dict(sent),
        if_match=etag,
    )
    assert stale.status_code == 412
    assert type(stale.parsed).__name__ == "Problem" and stale.parsed.status == 412

    patch = {text_field: _example(schema["properties"][text_field], "patched")}
    patched = feature.call(
        "patch",
        resource.id,
        client=feature.writer,
        body=feature.body_type("patch").from_dict(patch),
        if_match=replaced.headers["ETag"],
    )
    assert patched.status_code == 200, patched.content
    assert patched.parsed.to_dict()[text_field] == patch[text_field]
    assert patched.parsed.id == resource.id

    deleted = feature.call(
        "delete", resource.id, client=feature.writer, if_match=patched.headers["ETag"]
    )
    assert deleted.status_code == 204 and deleted.content == b""
    gone = feature.call("get", resource.id, client=feature.anonymous)
    assert gone.status_code == 404
    assert type(gone.parsed).__name__ == "Problem" and gone.parsed.status == 404


def test_documented_problems_are_typed(feature):
    schema = feature.write_schema()
    text_field = _plain_text_field(schema)
    field = schema["properties"][text_field]
    invalid = {**_body(feature, "x"), text_field: "x" * (field["maxLength"] + 1)}
    rejected = feature.call(
        "post collection",
        client=feature.writer,
        body=feature.body_type("post collection").from_dict(invalid),
    )
    assert rejected.status_code == 400
    problem = rejected.parsed
    assert type(problem).__name__ == "Problem" and problem.status == 400
    assert [error.path for error in problem.errors] == [f"/{text_field}"]
    assert problem.errors[0].message

    unauthorized = feature.call(
        "post collection",
        client=feature.stranger,
        body=feature.body_type("post collection").from_dict(_body(feature, "x")),
    )
    assert unauthorized.status_code == 401
    assert unauthorized.parsed.status == 401
    assert unauthorized.headers["WWW-Authenticate"].startswith("Bearer")

    _, created = _created(feature, "to be deleted")
    feature.call("delete", created.parsed.id, client=feature.writer)
    missing = feature.call("get", created.parsed.id, client=feature.anonymous)
    assert missing.status_code == 404
    assert type(missing.parsed).__name__ == "Problem" and missing.parsed.detail
