"""The Swagger 2.0 to OpenAPI 3.1 translation on what no feature documents yet.

tests/test_specs.py compares every feature's two documents as served; these
cover the translation's other branches: boolean exclusive bounds, array query
parameters, draft-07 keywords 2020-12 changed, and merge conflicts.
"""

import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator

from . import openapi

BEARER = {"bearer": {"type": "http", "scheme": "bearer"}}
PROBLEM = "application/problem+json"


def _spec(parameters=(), definitions=None, path="/thing/"):
    return {
        "swagger": "2.0",
        "basePath": "/v1",
        "info": {"title": "Things", "version": "1.0"},
        "consumes": ["application/json"],
        "tags": [{"name": "thing"}],
        "paths": {
            path: {
                "get": {
                    "operationId": f"get_{path.strip('/')}",
                    "tags": ["thing"],
                    "parameters": list(parameters),
                    "responses": {
                        "200": {
                            "description": "Things",
                            "schema": {"$ref": "#/definitions/Thing"},
                        },
                        "400": {
                            "description": "Bad",
                            "schema": {"$ref": "#/definitions/Thing"},
                        },
                    },
                }
            }
        },
        "definitions": definitions or {"Thing": {"type": "object"}},
    }


def _translated(spec, schemas=None):
    document = openapi.from_swagger(spec, schemas or {}, BEARER, PROBLEM)
    OpenAPIV31SpecValidator(document).validate()
    return document


def test_boolean_exclusive_bounds_become_numbers():
    parameter = {
        "in": "query",
        "name": "price",
        "type": "number",
        "minimum": 0,
        "exclusiveMinimum": True,
        "maximum": 10,
        "exclusiveMaximum": False,
    }
    document = _translated(_spec([parameter]))
    (translated,) = document["paths"]["/v1/thing/"]["get"]["parameters"]
    assert translated["schema"] == {
        "type": "number",
        "exclusiveMinimum": 0,
        "maximum": 10,
    }


@pytest.mark.parametrize(
    "collection, style, explode",
    [(None, "form", False), ("csv", "form", False), ("multi", "form", True)],
)
def test_array_query_parameters_keep_their_serialisation(collection, style, explode):
    parameter = {"in": "query", "name": "tag", "type": "array"}
    parameter["items"] = {"type": "string"}
    if collection:
        parameter["collectionFormat"] = collection
    document = _translated(_spec([parameter]))
    (translated,) = document["paths"]["/v1/thing/"]["get"]["parameters"]
    assert (translated["style"], translated["explode"]) == (style, explode)
    assert translated["schema"] == {"type": "array", "items": {"type": "string"}}


def test_a_collection_format_3_1_cannot_say_is_refused():
    parameter = {"in": "query", "name": "tag", "type": "array"}
    parameter.update(items={"type": "string"}, collectionFormat="tsv")
    with pytest.raises(ValueError, match="tsv"):
        openapi.from_swagger(_spec([parameter]), {}, BEARER, PROBLEM)


def test_responses_are_json_or_problems_by_status():
    document = _translated(_spec())
    responses = document["paths"]["/v1/thing/"]["get"]["responses"]
    assert list(responses["200"]["content"]) == ["application/json"]
    assert list(responses["400"]["content"]) == [PROBLEM]
    ref = {"$ref": "#/components/schemas/Thing"}
    assert responses["400"]["content"][PROBLEM]["schema"] == ref


def test_json_schemas_replace_the_swagger_cut_in_2020_12_without_their_id():
    declared = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": "https://example.invalid/thing.json",
        "type": "object",
        "properties": {"colour": {"const": "red"}},
    }
    document = _translated(_spec(), {"Thing": declared})
    assert document["components"]["schemas"]["Thing"] == {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {"colour": {"const": "red"}},
    }
    assert document["jsonSchemaDialect"] == openapi.OAS_DIALECT


@pytest.mark.parametrize(
    "schema",
    [
        {"definitions": {"a": {}}},
        {"type": "array", "items": [{"type": "string"}]},
        {"dependencies": {"a": ["b"]}},
    ],
)
def test_draft_07_keywords_whose_meaning_changed_are_refused(schema):
    with pytest.raises(ValueError, match="2020-12"):
        openapi.json_schema_2020_12(schema)


def test_merging_refuses_what_two_features_document_differently():
    first = _translated(_spec())
    clash = _translated(_spec(definitions={"Thing": {"type": "string"}}, path="/b/"))
    with pytest.raises(ValueError, match="Thing"):
        openapi.merge([first, clash], {"title": "All", "version": "1"})
    same_id = _spec(path="/other/")
    same_id["paths"]["/other/"]["get"]["operationId"] = "get_thing"
    with pytest.raises(ValueError, match="get_thing"):
        openapi.merge([first, _translated(same_id)], {"title": "All", "version": "1"})
    merged = openapi.merge(
        [first, _translated(_spec(path="/other/"))], {"title": "All", "version": "1"}
    )
    OpenAPIV31SpecValidator(merged).validate()
    assert list(merged["paths"]) == ["/v1/thing/", "/v1/other/"]
    assert merged["tags"] == [{"name": "thing"}]
