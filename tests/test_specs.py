"""Every feature's spec is complete, and /docs offers every one of them.

What each operation really answers is proven by the contract tests and by the
schemathesis run (test_contract_fuzz.py); this checks that the spec says it all:
summaries, typed and bounded parameters, every status with its schema and headers.
"""

import re

import pytest
from flask import url_for
from openapi_spec_validator import validate

from myapp import FEATURES

OPERATIONS = ("get", "post", "put", "patch", "delete")
WRITES = ("post", "put", "patch", "delete")
PROBLEM = {"$ref": "#/definitions/Problem"}


def spec_url(app, feature):
    with app.test_request_context():
        return url_for(f"{feature}.specs")


@pytest.fixture(params=[blueprint.name for blueprint in FEATURES])
def spec(request, app, client):
    return client.get(spec_url(app, request.param)).get_json()


def operations(spec):
    for path, item in spec["paths"].items():
        for method in OPERATIONS:
            if method in item:
                yield path, method, item[method], item.get("parameters", [])


def test_spec_is_valid_swagger_2(spec):
    validate(spec)
    assert "responses" not in spec, "no X-Fields mask errors in this service"


def test_every_operation_has_a_summary_and_an_id(spec):
    for path, method, operation, _ in operations(spec):
        assert operation.get("summary"), (method, path)
        assert operation.get("operationId"), (method, path)


def test_every_parameter_is_typed_and_bounded(spec):
    for path, method, operation, shared in operations(spec):
        for parameter in shared + operation.get("parameters", []):
            where = (method, path, parameter["name"])
            assert parameter.get("description"), where
            if parameter["in"] == "body":
                assert parameter["schema"]["$ref"].startswith("#/definitions/")
                continue
            assert parameter["type"] in ("integer", "string"), where
            if parameter["type"] == "integer":
                assert "minimum" in parameter and "maximum" in parameter, where
            if parameter["in"] == "path":
                assert parameter["required"] is True
                assert parameter["type"] == "integer" or "pattern" in parameter, where


def test_every_error_is_a_documented_problem(spec):
    for path, method, operation, _ in operations(spec):
        responses = operation["responses"]
        assert {"429", "500", "503"} <= set(responses), (method, path)
        for status, response in responses.items():
            assert response.get("description"), (method, path, status)
            if int(status) >= 400:
                assert response["schema"] == PROBLEM, (method, path, status)
        for status in ("429", "503"):
            assert "Retry-After" in responses[status]["headers"]


def test_writes_document_the_token_and_their_bodies(spec):
    for path, method, operation, _ in operations(spec):
        responses = operation["responses"]
        if method in WRITES:
            assert operation["security"] == [{"bearer": []}], (method, path)
            assert "WWW-Authenticate" in responses["401"]["headers"]
        else:
            assert "security" not in operation and "401" not in responses
        takes_body = any(p["in"] == "body" for p in operation.get("parameters", []))
        assert takes_body == (method in ("post", "put", "patch")), (method, path)
        if takes_body:
            assert {"400", "413", "415"} <= set(responses), (method, path)
    assert spec["securityDefinitions"]["bearer"] == {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": spec["securityDefinitions"]["bearer"]["description"],
    }


def test_successes_document_their_headers(spec):
    for path, method, operation, _ in operations(spec):
        responses = operation["responses"]
        successes = [status for status in responses if int(status) < 400]
        assert successes, (method, path)
        if method == "post":
            headers = {"Location", "ETag", "Idempotent-Replayed"}
            assert set(responses["201"]["headers"]) == headers
        elif method == "delete":
            assert "schema" not in responses["204"]
        elif "{" in path:
            assert "ETag" in responses["200"]["headers"], (method, path)
        else:
            assert "Link" in responses["200"]["headers"], (method, path)
        for status in successes:
            for header in responses[status].get("headers", {}).values():
                assert header["type"] and header["description"]


def test_creates_document_the_idempotency_key(spec):
    """The contract's "Retries": the header, the replay flag, 409, 422 and 503."""
    for path, method, operation, _ in operations(spec):
        if method != "post":
            continue
        (key,) = [p for p in operation["parameters"] if p["name"] == "Idempotency-Key"]
        assert key["in"] == "header" and not key.get("required")
        assert (key["minLength"], key["maxLength"]) == (1, 255)
        responses = operation["responses"]
        replayed = responses["201"]["headers"]["Idempotent-Replayed"]
        assert replayed["enum"] == ["true"] and not replayed.get("x-required")
        assert "Retry-After" in responses["409"]["headers"]
        assert "Retry-After" in responses["503"]["headers"]
        assert "Idempotency-Key" in responses["422"]["description"]


def test_operations_on_one_resource_are_conditional(spec):
    for path, method, operation, _ in operations(spec):
        if "{" not in path:
            continue
        names = {parameter["name"] for parameter in operation["parameters"]}
        assert {"If-Match", "If-None-Match"} <= names, (method, path)
        assert {"404", "412"} <= set(operation["responses"]), (method, path)
        if method == "get":
            not_modified = operation["responses"]["304"]
            assert "schema" not in not_modified and "ETag" in not_modified["headers"]


def test_docs_page_offers_every_spec_from_local_assets(app, client):
    response = client.get("/docs")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    for blueprint in FEATURES:
        url = spec_url(app, blueprint.name)
        assert f'{{"name": "{blueprint.name}", "url": "{url}"}}' in page
        assert client.get(url).status_code == 200
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert assets and all(asset.startswith("/swaggerui/") for asset in assets)
    for asset in assets:
        with client.get(asset) as served:
            assert served.status_code == 200, asset
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
