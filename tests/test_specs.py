"""Every feature's spec is complete, its OpenAPI 3.1 document says the same, and
/docs offers every one of them.

What each operation really answers is proven by the contract tests and by the
schemathesis run (test_contract_fuzz.py); this checks that the spec says it all:
summaries, typed and bounded parameters, every status with its schema and headers.
"""

import copy
import importlib.metadata
import json
import re

import pytest
from flask import url_for
from jsonschema import Draft202012Validator
from openapi_spec_validator import OpenAPIV31SpecValidator, validate

from myapp import FEATURES
from myapp.api.schemas import PROBLEM, swagger_schema

DIALECT_2020_12 = "https://json-schema.org/draft/2020-12/schema"
OAS_DIALECT = "https://spec.openapis.org/oas/3.1/dialect/base"
OPENAPI_REFS = "#/components/schemas/"
PROBLEM_TYPE = "application/problem+json"

OPERATIONS = ("get", "post", "put", "patch", "delete")
WRITES = ("post", "put", "patch", "delete")
PROBLEM_REF = {"$ref": "#/definitions/Problem"}


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
            # Filters on number and boolean fields take those types.
            assert parameter["type"] in (
                "integer",
                "number",
                "boolean",
                "string",
            ), where
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
                assert response["schema"] == PROBLEM_REF, (method, path, status)
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
            headers = {"Location", "ETag", "Idempotent-Replayed", "X-Request-ID"}
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
        for status, response in responses.items():
            assert "X-Request-ID" in response["headers"], (method, path, status)


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


def test_docs_page_offers_every_document_from_local_assets(app, client):
    response = client.get("/docs")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    offered = json.loads(re.search(r"urls: (\[.*\]),", page).group(1))
    expected = [{"name": "myapp (OpenAPI 3.1)", "url": "/openapi.json"}]
    for blueprint in FEATURES:
        name = blueprint.name
        expected.append(
            {"name": f"{name} (OpenAPI 3.1)", "url": openapi_url(app, name)}
        )
        expected.append({"name": f"{name} (Swagger 2.0)", "url": spec_url(app, name)})
    assert offered == expected
    for entry in offered:
        assert client.get(entry["url"]).status_code == 200
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert assets and all(asset.startswith("/docs/assets/") for asset in assets)
    for asset in assets:
        with client.get(asset) as served:
            assert served.status_code == 200, asset
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy


def test_docs_page_uses_a_swagger_ui_that_renders_openapi_3_1(client):
    with client.get("/docs/assets/swagger-ui-bundle.js") as bundle:
        assert bundle.status_code == 200
        assert bundle.mimetype in ("text/javascript", "application/javascript")
    version = importlib.metadata.version("flask-swagger-ui")
    assert int(version.split(".")[0]) >= 5, "swagger-ui renders OpenAPI 3.1 from 5.0"
    with client.get("/docs/assets/LICENSE") as licence:
        assert licence.status_code == 200
        assert b"Apache License" in licence.data


# OpenAPI 3.1: /v1/<feature>/openapi.json and /openapi.json.


def openapi_url(app, feature):
    with app.test_request_context():
        return url_for(f"{feature}.openapi")


@pytest.fixture(params=[blueprint.name for blueprint in FEATURES])
def feature(request):
    return request.param


@pytest.fixture
def documents(app, client, feature):
    """The feature's Swagger 2.0 spec and OpenAPI 3.1 document, as served."""
    swagger = client.get(spec_url(app, feature))
    document = client.get(openapi_url(app, feature))
    assert document.status_code == 200 and document.mimetype == "application/json"
    return swagger.get_json(), document.get_json()


@pytest.fixture
def service(client):
    response = client.get("/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    return response.get_json()


def test_openapi_documents_are_valid_3_1(documents, service):
    for document in (documents[1], service):
        assert document["openapi"] == "3.1.0"
        # OpenAPI 3.1's own dialect (2020-12 and its vocabulary): swagger-ui
        # renders no other; each schema says it is 2020-12.
        assert document["jsonSchemaDialect"] == OAS_DIALECT
        for name, schema in document["components"]["schemas"].items():
            assert schema["$schema"] == DIALECT_2020_12, name
        OpenAPIV31SpecValidator(document).validate()


def _ref_name(schema, prefix):
    assert set(schema) == {"$ref"}, f"a referenced schema, not an inline one: {schema}"
    assert schema["$ref"].startswith(prefix), schema
    return schema["$ref"].removeprefix(prefix)


def _value(described):
    """What a Swagger 2.0 parameter or header says about its value."""
    ignored = {"name", "in", "description", "required", "x-required"}
    return {key: value for key, value in described.items() if key not in ignored}


def test_openapi_says_what_swagger_says(documents):
    """Same operations, parameters, bodies, statuses, headers and schemas."""
    swagger, document = documents
    prefix = swagger["basePath"].rstrip("/")
    assert document["info"] == swagger["info"]
    assert document["tags"] == swagger["tags"]
    assert set(document["paths"]) == {prefix + path for path in swagger["paths"]}
    for path, method, operation, shared in operations(swagger):
        item = document["paths"][prefix + path]
        translated = item[method]
        where = (method, path)
        for key in ("operationId", "summary", "tags", "security"):
            assert translated.get(key) == operation.get(key), where
        parameters = {
            (p["in"], p["name"]): p for p in shared + operation.get("parameters", [])
        }
        body = parameters.pop(("body", "payload"), None)
        translated_parameters = {
            (p["in"], p["name"]): p
            for p in item.get("parameters", []) + translated.get("parameters", [])
        }
        assert set(translated_parameters) == set(parameters), where
        for key, parameter in parameters.items():
            other = translated_parameters[key]
            assert other["description"] == parameter["description"], (where, key)
            assert other.get("required", False) == parameter.get("required", False)
            assert other["schema"] == _value(parameter), (where, key)
        assert ("requestBody" in translated) == (body is not None), where
        if body is not None:
            request_body = translated["requestBody"]
            consumes = operation.get("consumes", swagger["consumes"])
            assert set(request_body["content"]) == set(consumes), where
            assert request_body["required"] == body["required"], where
            name = _ref_name(body["schema"], "#/definitions/")
            for content in request_body["content"].values():
                assert _ref_name(content["schema"], OPENAPI_REFS) == name, where
        assert set(translated["responses"]) == set(operation["responses"]), where
        for status, response in operation["responses"].items():
            other = translated["responses"][status]
            assert other["description"] == response["description"], (where, status)
            headers = response.get("headers", {})
            assert set(other.get("headers", {})) == set(headers), (where, status)
            for name, header in headers.items():
                value = other["headers"][name]
                assert value["schema"] == _value(header), (where, status, name)
                assert value.get("required", False) == header.get("x-required", False)
            if "schema" not in response:
                assert "content" not in other, (where, status)
                continue
            media_type = PROBLEM_TYPE if int(status) >= 400 else "application/json"
            assert list(other["content"]) == [media_type], (where, status)
            assert _ref_name(
                other["content"][media_type]["schema"], OPENAPI_REFS
            ) == _ref_name(response["schema"], "#/definitions/"), (where, status)
    components = document["components"]["schemas"]
    assert set(components) == set(swagger["definitions"])
    for name, definition in swagger["definitions"].items():
        as_swagger = json.loads(
            json.dumps(components[name]).replace(OPENAPI_REFS, "#/definitions/")
        )
        assert swagger_schema(as_swagger) == definition, name


def _feature_docs(app, feature):
    with app.app_context():
        return app.extensions["feature_apis"][feature].crud_docs


def _without_store_patterns(component, declared):
    """``component`` less the patterns added for what the store cannot hold."""
    component = copy.deepcopy(component)
    for name, schema in component.get("properties", {}).items():
        if "pattern" not in declared["properties"][name]:
            schema.pop("pattern", None)
    return component


def test_openapi_schemas_are_the_models_json_schemas(app, documents, feature):
    components = documents[1]["components"]["schemas"]
    for docs in _feature_docs(app, feature):
        for name, declared in (
            (docs.name, docs.model.read_schema),
            (f"{docs.name}Write", docs.model.write_schema),
            (f"{docs.name}Patch", docs.model.patch_schema),
        ):
            expected = {
                key: value
                for key, value in declared.items()
                if key not in ("$schema", "$id")
            }
            expected["$schema"] = DIALECT_2020_12
            assert _without_store_patterns(components[name], declared) == expected
            Draft202012Validator.check_schema(components[name])
        page = components[f"{docs.name}Page"]
        assert page["properties"]["items"]["items"] == {
            "$ref": f"{OPENAPI_REFS}{docs.name}"
        }
    assert components["Problem"] == {"$schema": DIALECT_2020_12, **PROBLEM}


def test_openapi_writes_use_the_bearer_scheme_and_both_patch_types(documents):
    document = documents[1]
    assert document["components"]["securitySchemes"]["bearer"]["type"] == "http"
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    for path, item in document["paths"].items():
        for method in OPERATIONS:
            if method not in item:
                continue
            operation = item[method]
            if method in WRITES:
                assert operation["security"] == [{"bearer": []}], (method, path)
            if method == "patch":
                assert set(operation["requestBody"]["content"]) == {
                    "application/merge-patch+json",
                    "application/json",
                }
            elif method in ("post", "put"):
                assert set(operation["requestBody"]["content"]) == {"application/json"}
            for status, response in operation["responses"].items():
                assert "X-Request-ID" in response["headers"], (method, path, status)
                if status in ("204", "304"):
                    assert "content" not in response
                elif int(status) >= 400:
                    assert response["content"] == {
                        PROBLEM_TYPE: {"schema": {"$ref": OPENAPI_REFS + "Problem"}}
                    }
                else:
                    assert set(response["content"]) == {"application/json"}


def test_service_document_holds_every_feature_under_its_prefix(app, client, service):
    tags = [tag["name"] for tag in service["tags"]]
    assert tags == [blueprint.name for blueprint in FEATURES]
    paths = {}
    for blueprint in FEATURES:
        document = client.get(openapi_url(app, blueprint.name)).get_json()
        for path, item in document["paths"].items():
            assert path.startswith(f"/v1/{blueprint.name}/"), path
            paths[path] = item
            for method in OPERATIONS:
                if method in item:
                    assert item[method]["tags"] == [blueprint.name], (method, path)
        for name, schema in document["components"]["schemas"].items():
            assert service["components"]["schemas"][name] == schema
    assert service["paths"] == paths
    ids = [
        item[method]["operationId"]
        for item in service["paths"].values()
        for method in OPERATIONS
        if method in item
    ]
    assert len(ids) == len(set(ids)), "operationIds are unique across the service"
    served = {rule.rule for rule in app.url_map.iter_rules()}
    for path in service["paths"]:
        rule = re.sub(r"\{(\w+)\}", "<", path)
        assert any(re.sub(r"<[^>]+>", "<", s) == rule for s in served), path
