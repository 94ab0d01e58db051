"""The documentation of a feature's CRUD operations, written once.

CrudDocs writes the Swagger 2.0 spec of each operation (flask-restx renders it)
from its model's schemas: every status, with its schema, headers and parameters.
"""

import re
from typing import Any, Callable, TypeVar

from .feature_api import FeatureApi
from .idempotency import HEADER as IDEMPOTENCY_HEADER
from .paging import field_kind, filter_operators
from .schemas import PROBLEM, list_schema, swagger_schema
from .spec_parameters import (
    ETAG,
    FILTER_TYPES,
    IDEMPOTENCY_IN_FLIGHT,
    IDEMPOTENCY_KEY,
    IDEMPOTENCY_REUSED,
    IF_MATCH,
    IF_NONE_MATCH_READ,
    IF_NONE_MATCH_WRITE,
    LINK,
    LIST_PARAMS,
    LOCATION,
    RANGE_WORDS,
    REPLAYED,
    REQUEST_ID,
    RETRY_AFTER,
    RETRY_AFTER_IF_IN_FLIGHT,
    WWW_AUTHENTICATE,
    spec_parameter,
)

# A documented view function: returned as it came, with its docs attached.
F = TypeVar("F", bound=Callable[..., Any])


class CrudDocs:
    """Decorators that document a resource's CRUD operations from its model's schemas.

    Documentation only: behaviour lives in myapp.api.views.
    """

    def __init__(self, namespace: Any, model: Any, name: str) -> None:
        self.ns = namespace
        self.model = model
        self.apis = [api for api in namespace.apis if isinstance(api, FeatureApi)]
        self.read = self._schema_model(name, model.read_schema)
        self.write = self._schema_model(f"{name}Write", model.write_schema)
        self.patch_model = self._schema_model(f"{name}Patch", model.patch_schema)
        self.page = self._schema_model(
            f"{name}Page",
            list_schema({"$ref": f"#/definitions/{name}"}, f"{name} Page"),
        )
        self.problem = self._schema_model("Problem", PROBLEM)
        self.name = name
        for api in self.apis:
            api.crud_docs.append(self)

    def _schema_model(self, name: str, json_schema: dict[str, Any]) -> Any:
        """A definition of the spec: Swagger 2.0's cut of ``json_schema``, which
        the OpenAPI 3.1 document gets whole."""
        for api in self.apis:
            api.json_schemas[name] = json_schema
        return self.ns.schema_model(name, swagger_schema(json_schema))

    def document_store_limits(
        self, schemas: dict[str, Any], paths: dict[str, Any] | None = None
    ) -> None:
        """Forbid, in the ``schemas`` of a spec (and the filters of its ``paths``),
        the characters this app's store cannot hold.

        The service answers them with a 400 (PostgreSQL cannot hold NUL), so the
        text the client sends, in a body or a filter, is documented without them.
        """
        characters = self.model.unstorable_characters()
        if not characters:
            return
        pattern = "^[^" + "".join(f"\\u{ord(c):04x}" for c in characters) + "]*$"
        for definition in (f"{self.name}Write", f"{self.name}Patch"):
            for schema in schemas[definition]["properties"].values():
                if schema.get("type") == "string" and "format" not in schema:
                    schema.setdefault("pattern", pattern)
        for operations in (paths or {}).values():
            for method, operation in operations.items():
                if method == "parameters" or self.ns.name not in operation["tags"]:
                    continue
                for parameter in operation.get("parameters", ()):
                    if parameter["in"] == "query" and (
                        parameter["name"] in self.model.filterable
                    ):
                        parameter.setdefault("pattern", pattern)

    def _apply(
        self,
        function: F,
        responses: dict[int, tuple[str, Any, dict | None]],
        params: dict[str, Any] | None = None,
        body: tuple[Any, str] | None = None,
        secured: bool = False,
    ) -> F:
        for code, (description, model, headers) in responses.items():
            headers = {**(headers or {}), **REQUEST_ID}
            function = self.ns.response(code, description, model, headers=headers)(
                function
            )
        doc: dict[str, Any] = {"params": params or {}}
        if secured:
            doc["security"] = "bearer"
        function = self.ns.doc(**doc)(function)
        if body is not None:
            function = self.ns.expect(body, validate=False)(function)
        return function

    def _problem(
        self, description: str, headers: dict | None = None
    ) -> tuple[str, Any, dict | None]:
        return (description, self.problem, headers)

    def _common(
        self,
        *codes: int,
        conflict: str | None = None,
        unprocessable: str | None = None,
        conflict_headers: dict | None = None,
    ) -> dict[int, tuple[str, Any, dict | None]]:
        """The problems of ``codes``; 409 and 422 described by the operation."""
        known = {
            400: self._problem("Invalid request: the detail (and errors) say why"),
            401: self._problem(
                "Missing or unknown bearer token (when tokens are configured)",
                WWW_AUTHENTICATE,
            ),
            404: self._problem("No such resource (unknown or malformed id)"),
            409: self._problem(conflict or "", conflict_headers),
            412: self._problem("A precondition (If-Match/If-None-Match) failed"),
            413: self._problem("Body larger than MAX_CONTENT_LENGTH"),
            415: self._problem("Body is not sent as JSON"),
            422: self._problem(unprocessable or ""),
            429: self._problem(
                "Rate limit exceeded (when one is configured)", RETRY_AFTER
            ),
            500: self._problem("Unexpected error, logged under the body's error_id"),
            503: self._problem(
                "The resource's store (or, for a request with an Idempotency-Key,"
                " Redis) is unreachable",
                RETRY_AFTER,
            ),
        }
        # Every operation may meet a rate limit, an outage or a bug.
        return {code: known[code] for code in (*codes, 429, 500, 503)}

    def _field_problems(self) -> tuple[str | None, str | None]:
        """What a write of the declared fields can meet: (409 text, 422 text)."""
        unique = [field.name for field in self.model.declared if field.unique]
        references = [f.name for f in self.model.declared if f.references]
        conflict = unprocessable = None
        if unique:
            conflict = (
                f"Another record has the same {', '.join(unique)} (errors name it)"
            )
        if references:
            unprocessable = (
                f"A reference ({', '.join(references)}) names no record (errors name"
                " it)"
            )
        return conflict, unprocessable

    def _write_problems(self) -> tuple[tuple[int, ...], dict[str, Any]]:
        """The codes and texts of _common for a PUT or PATCH."""
        conflict, unprocessable = self._field_problems()
        codes = (409,) * bool(conflict) + (422,) * bool(unprocessable)
        return codes, {"conflict": conflict, "unprocessable": unprocessable}

    def _list_params(self) -> dict[str, Any]:
        params = dict(LIST_PARAMS)
        if self.model.sortable:
            fields = "|".join(re.escape(name) for name in self.model.sortable)
            params["sort"] = spec_parameter(
                "query",
                "string",
                "Sort order: a comma-separated list of "
                + ", ".join(self.model.sortable)
                + ", each optionally prefixed with '-' for descending; ties are"
                " broken by id in the direction of the last key.",
                pattern=f"^-?({fields})(,-?({fields}))*$",
            )
        properties = self.model.read_schema["properties"]
        for name in self.model.filterable:
            schema = properties[name]
            kind = field_kind(schema)
            typed = dict(FILTER_TYPES[kind])
            if kind == "enum":
                typed["enum"] = list(schema["enum"])
            for operator in filter_operators(self.model, name):
                if operator == "eq":
                    parameter, description = name, f"Exact match on {name}."
                else:
                    parameter = f"{name}[{operator}]"
                    description = (
                        f"Only {name} {RANGE_WORDS[operator]} this value ({operator})."
                    )
                params[parameter] = {"in": "query", "description": description, **typed}
        return params

    def list(self, function: F) -> F:
        responses: dict[int, tuple[str, Any, dict | None]] = {
            200: ("A page of items", self.page, LINK)
        }
        responses.update(self._common(400))
        return self._apply(function, responses, self._list_params())

    def create(self, function: F) -> F:
        responses: dict[int, tuple[str, Any, dict | None]] = {
            201: ("Created", self.read, {**LOCATION, **ETAG, **REPLAYED})
        }
        conflict, unprocessable = self._field_problems()
        responses.update(
            self._common(
                400,
                401,
                409,
                413,
                415,
                422,
                conflict=" or ".join(filter(None, [conflict, IDEMPOTENCY_IN_FLIGHT])),
                # A duplicate value's 409 has no Retry-After; an in-flight one has.
                conflict_headers=RETRY_AFTER_IF_IN_FLIGHT if conflict else RETRY_AFTER,
                unprocessable=" or ".join(
                    filter(None, [unprocessable, IDEMPOTENCY_REUSED])
                ),
            )
        )
        body = (self.write, "The new resource's writable fields.")
        params = {IDEMPOTENCY_HEADER: IDEMPOTENCY_KEY}
        return self._apply(function, responses, params, body, secured=True)

    def get(self, function: F) -> F:
        responses: dict[int, tuple[str, Any, dict | None]] = {
            200: ("The resource", self.read, ETAG),
            304: ("Not modified", None, ETAG),
        }
        responses.update(self._common(404, 412))
        params = {"If-None-Match": IF_NONE_MATCH_READ, "If-Match": IF_MATCH}
        return self._apply(function, responses, params)

    def _write_params(self) -> dict[str, Any]:
        return {"If-Match": IF_MATCH, "If-None-Match": IF_NONE_MATCH_WRITE}

    def replace(self, function: F) -> F:
        responses: dict[int, tuple[str, Any, dict | None]] = {
            200: ("Replaced", self.read, ETAG)
        }
        codes, texts = self._write_problems()
        responses.update(self._common(400, 401, 404, 412, 413, 415, *codes, **texts))
        body = (self.write, "Every writable field: those left out are not kept.")
        return self._apply(
            function, responses, self._write_params(), body, secured=True
        )

    def patch(self, function: F) -> F:
        responses: dict[int, tuple[str, Any, dict | None]] = {
            200: ("Patched", self.read, ETAG)
        }
        codes, texts = self._write_problems()
        responses.update(self._common(400, 401, 404, 412, 413, 415, *codes, **texts))
        body = (
            self.patch_model,
            "A JSON Merge Patch (RFC 7396): the fields to change, null to remove"
            " one; the result must be a valid write body.",
        )
        return self._apply(
            function, responses, self._write_params(), body, secured=True
        )

    def delete(self, function: F) -> F:
        responses: dict[int, tuple[str, Any, dict | None]] = {
            204: ("Deleted", None, None)
        }
        if self.model.lists_by_fields:
            # Any SQL feature may be referenced by another (the problem says which).
            referenced = "Other records refer to this one: change or delete them first"
            responses.update(self._common(401, 404, 409, 412, conflict=referenced))
        else:
            responses.update(self._common(401, 404, 412))
        return self._apply(function, responses, self._write_params(), secured=True)
