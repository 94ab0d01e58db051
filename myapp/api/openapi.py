"""OpenAPI 3.1 documents, translated from the Swagger 2.0 specs flask-restx builds.

The Swagger 2.0 spec is the one description of a feature's operations (CrudDocs
in resources.py writes it from the model's schemas and the shared helpers); this
module only changes its form. So whatever those helpers document (a parameter, a
status, a header) appears in both documents, and a test compares the two. The
schemas are not translated: they are the features' own JSON Schemas, in the
draft 2020-12 dialect that OpenAPI 3.1 uses, which Swagger 2.0 could only cut down.
"""

import copy
from collections.abc import Iterable, Mapping
from typing import Any

OPENAPI_VERSION = "3.1.0"
# Each component names its dialect; the document keeps OpenAPI 3.1's default
# (2020-12 plus OpenAPI's vocabulary), the only one swagger-ui renders.
DIALECT = "https://json-schema.org/draft/2020-12/schema"
OAS_DIALECT = "https://spec.openapis.org/oas/3.1/dialect/base"
SWAGGER_REFS = "#/definitions/"
OPENAPI_REFS = "#/components/schemas/"
JSON = "application/json"
OPERATIONS = ("get", "put", "post", "delete", "options", "head", "patch")

# What a Swagger 2.0 non-body parameter or header says about its value: in 3.1
# that belongs in its schema.
_VALUE_KEYWORDS = {
    "type",
    "format",
    "items",
    "default",
    "maximum",
    "exclusiveMaximum",
    "minimum",
    "exclusiveMinimum",
    "maxLength",
    "minLength",
    "pattern",
    "maxItems",
    "minItems",
    "uniqueItems",
    "enum",
    "multipleOf",
}

# Draft-07 keywords whose meaning 2020-12 changed: a schema using them needs a
# real translation, so it is refused rather than documented wrongly.
_CHANGED_IN_2020_12 = ("definitions", "dependencies", "additionalItems")


def json_schema_2020_12(schema: Mapping) -> dict:
    """A feature's draft-07 JSON Schema as a 3.1 component, in draft 2020-12.

    ``$schema`` says 2020-12; ``$id`` is dropped, as it would re-base the
    ``$ref``s that point into the document; references to Swagger definitions
    point at the components of the same name.
    """
    result = {
        key: value for key, value in schema.items() if key not in ("$schema", "$id")
    }
    return {"$schema": DIALECT, **_translate_schema(result)}


def _translate_schema(schema: Any) -> Any:
    if isinstance(schema, list):
        return [_translate_schema(item) for item in schema]
    if not isinstance(schema, Mapping):
        return schema
    for keyword in _CHANGED_IN_2020_12:
        if keyword in schema:
            raise ValueError(f"{keyword!r} means another thing in JSON Schema 2020-12")
    if isinstance(schema.get("items"), list):
        raise ValueError("'items' as a list means another thing in JSON Schema 2020-12")
    result = {}
    for key, value in schema.items():
        if key == "$ref" and value.startswith(SWAGGER_REFS):
            value = OPENAPI_REFS + value.removeprefix(SWAGGER_REFS)
        elif key in ("properties", "patternProperties", "$defs"):
            value = {name: _translate_schema(sub) for name, sub in value.items()}
        elif key in ("enum", "const", "default", "examples", "required"):
            value = copy.deepcopy(value)
        else:
            value = _translate_schema(value)
        result[key] = value
    return _exclusive_bounds(result)


def _exclusive_bounds(schema: dict[str, Any]) -> dict[str, Any]:
    """Swagger's boolean exclusiveMaximum/Minimum are numbers in 2020-12."""
    for exclusive, bound in (
        ("exclusiveMaximum", "maximum"),
        ("exclusiveMinimum", "minimum"),
    ):
        if schema.get(exclusive) is True:
            schema[exclusive] = schema.pop(bound)
        elif schema.get(exclusive) is False:
            del schema[exclusive]
    return schema


def _value_schema(described: Mapping) -> dict:
    """The schema of a Swagger 2.0 parameter's or header's value."""
    schema = {
        key: copy.deepcopy(value)
        for key, value in described.items()
        if key in _VALUE_KEYWORDS
    }
    return _translate_schema(schema)


def _parameter(parameter: Mapping) -> dict:
    result = {"name": parameter["name"], "in": parameter["in"]}
    if "description" in parameter:
        result["description"] = parameter["description"]
    if parameter.get("required") or parameter["in"] == "path":
        result["required"] = True
    if parameter["in"] == "query" and parameter.get("allowEmptyValue"):
        result["allowEmptyValue"] = True
    result["schema"] = _value_schema(parameter)
    collection = parameter.get("collectionFormat")
    if parameter.get("type") == "array":
        if collection == "multi":
            result["style"], result["explode"] = "form", True
        elif collection in (None, "csv"):
            simple = parameter["in"] in ("path", "header")
            result["style"], result["explode"] = ("simple" if simple else "form"), False
        else:
            raise ValueError(f"collectionFormat {collection!r} has no 3.1 style here")
    result.update(
        (key, value) for key, value in parameter.items() if key.startswith("x-")
    )
    return result


def _header(header: Mapping) -> dict:
    result = {"description": header.get("description", "")}
    if header.get("x-required"):
        result["required"] = True
    result["schema"] = _value_schema(header)
    return result


def _response(status: str, response: Mapping, problem_type: str) -> dict:
    result = {"description": response.get("description", "")}
    if response.get("headers"):
        result["headers"] = {
            name: _header(header) for name, header in response["headers"].items()
        }
    if "schema" in response:
        media_type = problem_type if int(status) >= 400 else JSON
        result["content"] = {
            media_type: {"schema": _translate_schema(response["schema"])}
        }
    return result


def _operation(operation: Mapping, consumes: list, problem_type: str) -> dict:
    result = {
        key: copy.deepcopy(value)
        for key, value in operation.items()
        if key not in ("parameters", "responses", "consumes", "produces", "schemes")
    }
    parameters = []
    for parameter in operation.get("parameters", ()):
        if parameter["in"] == "body":
            result["requestBody"] = {
                "description": parameter.get("description", ""),
                "required": bool(parameter.get("required")),
                "content": {
                    media_type: {"schema": _translate_schema(parameter["schema"])}
                    for media_type in operation.get("consumes", consumes)
                },
            }
        elif parameter["in"] == "formData":
            raise ValueError("form parameters are not documented by this service")
        else:
            parameters.append(_parameter(parameter))
    if parameters:
        result["parameters"] = parameters
    result["responses"] = {
        status: _response(status, response, problem_type)
        for status, response in operation["responses"].items()
    }
    return result


def from_swagger(
    spec: Mapping,
    schemas: Mapping[str, Mapping],
    security_schemes: Mapping[str, Mapping],
    problem_type: str,
) -> dict:
    """The OpenAPI 3.1 document saying what the Swagger 2.0 ``spec`` says.

    Paths are under their real prefix (the spec's basePath), so documents of
    several features can be merged. ``schemas`` are the JSON Schemas behind the
    spec's definitions; a definition without one is translated from the spec.
    Error responses are ``problem_type``, successes JSON.
    """
    prefix = spec.get("basePath", "/").rstrip("/")
    consumes = spec.get("consumes", [JSON])
    paths: dict[str, dict[str, Any]] = {}
    for path, item in spec.get("paths", {}).items():
        translated: dict[str, Any] = {}
        if item.get("parameters"):
            translated["parameters"] = [_parameter(p) for p in item["parameters"]]
        for method in OPERATIONS:
            if method in item:
                translated[method] = _operation(item[method], consumes, problem_type)
        paths[prefix + path] = translated
    components = {
        name: (
            json_schema_2020_12(schemas[name])
            if name in schemas
            else {"$schema": DIALECT, **_translate_schema(definition)}
        )
        for name, definition in spec.get("definitions", {}).items()
    }
    document = {
        "openapi": OPENAPI_VERSION,
        "jsonSchemaDialect": OAS_DIALECT,
        "info": copy.deepcopy(spec["info"]),
        "tags": copy.deepcopy(spec.get("tags", [])),
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": copy.deepcopy(dict(security_schemes)),
        },
    }
    if "security" in spec:
        document["security"] = copy.deepcopy(spec["security"])
    return document


def operation_ids(document: Mapping) -> list:
    return [
        item[method]["operationId"]
        for item in document["paths"].values()
        for method in OPERATIONS
        if method in item and "operationId" in item[method]
    ]


def _merge_named(target: dict, source: Mapping, what: str) -> None:
    for name, value in source.items():
        if name in target and target[name] != value:
            raise ValueError(f"two features document different {what} {name!r}")
        target[name] = copy.deepcopy(value)


def merge(documents: Iterable[Mapping], info: Mapping) -> dict:
    """One document for the whole service from the features' documents.

    Each feature's paths, tag, schemas and security schemes are kept as they are;
    two features that document one path, operationId or component name
    differently are an error, not a silent overwrite.
    """
    merged: dict[str, Any] = {
        "openapi": OPENAPI_VERSION,
        "jsonSchemaDialect": OAS_DIALECT,
        "info": dict(info),
        "tags": [],
        "paths": {},
        "components": {"schemas": {}, "securitySchemes": {}},
    }
    seen_ids: set[str] = set()
    for document in documents:
        for path, item in document["paths"].items():
            if path in merged["paths"]:
                raise ValueError(f"two features document the path {path}")
            merged["paths"][path] = copy.deepcopy(item)
        for operation_id in operation_ids(document):
            if operation_id in seen_ids:
                raise ValueError(f"two operations have the id {operation_id!r}")
            seen_ids.add(operation_id)
        tags = {tag["name"]: tag for tag in merged["tags"]}
        for tag in document.get("tags", ()):
            if tag["name"] not in tags:
                merged["tags"].append(copy.deepcopy(tag))
            elif tags[tag["name"]] != tag:
                raise ValueError(f"two features document the tag {tag['name']!r}")
        for section in ("schemas", "securitySchemes"):
            _merge_named(
                merged["components"][section],
                document.get("components", {}).get(section, {}),
                section,
            )
    return merged
