"""A feature's Api and the documentation of its CRUD operations, written once.

The spec must tell the truth: every status an operation can answer is listed with
its schema and headers, and tests (the contract tests, schemathesis over a live
server) hold the service to it. CrudDocs writes the Swagger 2.0 spec (flask-restx
renders it); the OpenAPI 3.1 document is translated from it (openapi.py), with
the models' own JSON Schemas, so the two always say the same.
"""

import copy
import functools
import inspect
import re

from flask import current_app, request
from flask_restx import Api
from flask_restx.utils import unpack
from werkzeug.wrappers import Response

from . import openapi
from .auth import require_token_for_writes
from .bodies import JSON, MERGE_PATCH
from .fields import INT64_MAX, INT64_MIN
from .idempotency import HEADER as IDEMPOTENCY_HEADER
from .idempotency import KEY_PATTERN, MAX_KEY_LENGTH, REPLAYED_HEADER
from .paging import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    MAX_OFFSET,
    OFFSET_WINDOW,
    field_kind,
    filter_operators,
)
from .problems import PROBLEM_MIMETYPE
from .schemas import PROBLEM, list_schema, swagger_schema

# Swagger 2.0 has no bearer scheme: the header is an API key holding both words.
BEARER = {
    "bearer": {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "Writes need `Bearer <token>` with one of the service's API"
        " tokens: type both words.",
    }
}
# The same requirement as OpenAPI 3.1 says it (same name, so operations agree).
BEARER_HTTP = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "Writes need one of the service's API tokens, sent as"
        " `Authorization: Bearer <token>` (in swagger-ui: type the token alone).",
    }
}


def _problem_output(data, code, headers=None):
    raise NotImplementedError("problems are rendered by myapp.api.problems")


# What every feature's API has in common, appended to its own description.
SERVICE_NOTES = """

Reads are public. Writes need `Authorization: Bearer <token>` with one of the
service's API tokens (in the docs: **Authorize**, then type the token on an
OpenAPI 3.1 page, `Bearer <token>` on a Swagger 2.0 one); a service configured
without tokens (development) accepts writes without one.

Every error is `application/problem+json` (RFC 9457). A method a path does not
list is answered 405 with an `Allow` header; `HEAD` is answered wherever `GET` is,
with the same headers and no body. Every response carries `X-Request-ID`."""


class FeatureApi(Api):
    """One feature's Api: docs at /<name>/docs, specs at /<name>/swagger.json
    (Swagger 2.0) and /<name>/openapi.json (OpenAPI 3.1).

    Errors are left to the app's problem+json handlers rather than restx's own.
    """

    def __init__(self, blueprint, name, description="", **kwargs):
        super().__init__(
            blueprint,
            doc=f"/{name}/docs",
            default_swagger_filename=f"{name}/swagger.json",
            authorizations=BEARER,
            description=description + SERVICE_NOTES,
            **kwargs,
        )
        # Filled by CrudDocs: each documented model, to adapt the spec to its store,
        # and the JSON Schema behind each of the spec's definitions.
        self.crud_docs = []
        self.json_schemas = {}
        blueprint.before_request(require_token_for_writes)
        blueprint.add_url_rule(
            f"/{name}/openapi.json", "openapi", self._serve_openapi, methods=["GET"]
        )
        blueprint.record_once(self._register_on_app)
        # Listed so the spec's "produces" admits the error bodies too.
        self.representations[PROBLEM_MIMETYPE] = _problem_output

    def _register_on_app(self, state):
        """Found by the service-wide docs (/docs, /openapi.json) by feature name."""
        state.app.extensions.setdefault("feature_apis", {})[self.blueprint.name] = self

    def error_router(self, original_handler, e):
        return original_handler(e)

    def output(self, view):
        """A feature's resource as a plain view: its method, called straight.

        restx would make a Resource per request, look its method up by name, run
        its payload validation (off: schemas.py validates) and check the result
        twice; for a resource with nothing to decorate or validate, one instance
        and a table of its methods answer the same. Anything else (restx's own
        views, decorated or validating resources) keeps restx's dispatch.
        """
        resource = view.view_class
        if not self._dispatches_plainly(resource):
            return super().output(view)
        instance = resource(self)
        handlers = {
            method: getattr(instance, method.lower()) for method in view.methods
        }
        if "GET" in handlers:
            handlers.setdefault("HEAD", handlers["GET"])
        make_response = self.make_response

        @functools.wraps(view)
        def dispatch(**kwargs):
            response = handlers[request.method](**kwargs)
            if isinstance(response, Response):
                return response
            data, code, headers = unpack(response)
            return make_response(data, code, headers=headers)

        return dispatch

    def _dispatches_plainly(self, resource) -> bool:
        if resource.__module__.startswith("flask_restx") or resource.method_decorators:
            return False
        for method in resource.methods:
            function = getattr(resource, method.lower())
            if inspect.iscoroutinefunction(function):
                return False
            doc = getattr(function, "__apidoc__", {})
            validate = doc.get("validate")
            if doc.get("expect") and (validate or validate is None and self._validate):
                return False
        return True

    @property
    def __schema__(self):
        """The spec, built once per app: what a store can hold depends on its URL."""
        specs = current_app.extensions.setdefault("feature_specs", {})
        if self.blueprint.name not in specs:
            specs[self.blueprint.name] = self._spec_for_this_app()
        return specs[self.blueprint.name]

    def _spec_for_this_app(self):
        spec = copy.deepcopy(super().__schema__)
        # restx documents its X-Fields mask errors; this service has no masks.
        spec.pop("responses", None)
        for operations in spec.get("paths", {}).values():
            if "patch" in operations:
                operations["patch"]["consumes"] = [MERGE_PATCH, JSON]
        for docs in self.crud_docs:
            docs.document_store_limits(spec["definitions"], spec["paths"])
        return spec

    @property
    def openapi_document(self) -> dict:
        """The OpenAPI 3.1 document: the Swagger 2.0 spec's content, built once."""
        documents = current_app.extensions.setdefault("feature_openapi", {})
        if self.blueprint.name not in documents:
            document = openapi.from_swagger(
                self.__schema__, self.json_schemas, BEARER_HTTP, PROBLEM_MIMETYPE
            )
            for docs in self.crud_docs:
                docs.document_store_limits(document["components"]["schemas"])
            documents[self.blueprint.name] = document
        return documents[self.blueprint.name]

    def _serve_openapi(self):
        return current_app.json.response(self.openapi_document)


def _param(location, kind, description, **bounds):
    return {"in": location, "type": kind, "description": description, **bounds}


LIST_PARAMS = {
    "limit": _param(
        "query",
        "integer",
        "Items per page.",
        minimum=1,
        maximum=MAX_LIMIT,
        default=DEFAULT_LIMIT,
    ),
    "offset": _param(
        "query",
        "integer",
        f"Items to skip (offset pages; none when absent): offset + limit at most"
        f" {OFFSET_WINDOW}; beyond, follow next_cursor. Never with cursor, so it"
        " has no default a client would send.",
        minimum=0,
        maximum=MAX_OFFSET,
    ),
    "cursor": _param(
        "query",
        "string",
        "A next_cursor from a page of this collection: the page after it, in the"
        " sort and with the filters it was made with (sent again, they must be the"
        " same). Not with offset.",
        minLength=1,
    ),
}
# How each kind of field is documented as a query parameter (Swagger 2.0 types).
_FILTER_TYPES = {
    "string": {"type": "string"},
    "enum": {"type": "string"},
    "boolean": {"type": "boolean"},
    # What the filter parser takes: any 64-bit integer, whatever the field's bounds.
    "integer": {
        "type": "integer",
        "format": "int64",
        "minimum": INT64_MIN,
        "maximum": INT64_MAX,
    },
    "number": {"type": "number"},
    "date": {"type": "string", "format": "date"},
    "date-time": {"type": "string", "format": "date-time"},
}
_RANGE_WORDS = {"gt": "after", "gte": "from", "lt": "before", "lte": "up to"}
IF_MATCH = _param(
    "header",
    "string",
    "`*` or a list of strong ETags: apply only if one is current, else 412"
    " (compared strongly: a W/ tag never matches).",
)
IF_NONE_MATCH_READ = _param(
    "header",
    "string",
    "`*` or a list of ETags: 304 with no body if one is current (weak comparison).",
)
IF_NONE_MATCH_WRITE = _param(
    "header",
    "string",
    "`*` or a list of ETags: apply only if none is current, else 412.",
)
IDEMPOTENCY_KEY = _param(
    "header",
    "string",
    "Makes a retry safe: a repeat with the same key and body (same token, within"
    " 24 h) gets the first response again and creates nothing; another body is"
    " 422, a repeat while the first runs is 409. 1 to 255 printable ASCII"
    " characters, e.g. a UUID.",
    minLength=1,
    maxLength=MAX_KEY_LENGTH,
    pattern=KEY_PATTERN,
)


def _header(description, required=True, kind="string", **schema):
    """A response header; ``x-required`` makes schemathesis insist on it."""
    header = {"type": kind, "description": description, **schema}
    if required:
        header["x-required"] = True
    return header


ETAG = {
    "ETag": _header(
        "Strong entity tag of this representation (for If-Match/If-None-Match).",
        pattern='^"[!#-~]*"$',
    )
}
LOCATION = {"Location": _header("Path of the new resource.", pattern="^/")}
LINK = {
    "Link": _header(
        'RFC 8288 links: rel="next" is the cursor link (whenever next_cursor is'
        ' not null), rel="prev" the offset link on offset pages past the first.',
        required=False,
    )
}
# Every response has it (security_headers.py), so every response documents it.
REQUEST_ID = {
    "X-Request-ID": _header(
        "The request's id: the client's own if it sent a sane one, else a new one.",
        pattern="^[A-Za-z0-9._:@/+=-]{1,128}$",
    )
}
RETRY_AFTER = {
    "Retry-After": _header(
        "Seconds to wait before retrying.", kind="integer", minimum=0
    )
}
REPLAYED = {
    REPLAYED_HEADER: _header(
        "`true` when this is the stored response to an earlier request with the"
        " same Idempotency-Key (nothing was created this time).",
        required=False,
        enum=["true"],
    )
}
RETRY_AFTER_IF_IN_FLIGHT = {
    "Retry-After": _header(
        "Seconds to wait before retrying (a request still being processed).",
        required=False,
        kind="integer",
        minimum=0,
    )
}
WWW_AUTHENTICATE = {
    "WWW-Authenticate": _header("The scheme to use: Bearer.", pattern="^Bearer")
}


IDEMPOTENCY_IN_FLIGHT = (
    "A request with this Idempotency-Key is still being processed (Retry-After)"
)
IDEMPOTENCY_REUSED = "This Idempotency-Key was used with a different body or path"


class CrudDocs:
    """Decorators that document a resource's CRUD operations from its model's schemas.

    Documentation only: behaviour lives in myapp.api.views.
    """

    def __init__(self, namespace, model, name):
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

    def _schema_model(self, name, json_schema):
        """A definition of the spec: Swagger 2.0's cut of ``json_schema``, which
        the OpenAPI 3.1 document gets whole."""
        for api in self.apis:
            api.json_schemas[name] = json_schema
        return self.ns.schema_model(name, swagger_schema(json_schema))

    def document_store_limits(self, schemas, paths=None):
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

    def _apply(self, function, responses, params=None, body=None, secured=False):
        for code, (description, model, headers) in responses.items():
            headers = {**(headers or {}), **REQUEST_ID}
            function = self.ns.response(code, description, model, headers=headers)(
                function
            )
        doc = {"params": params or {}}
        if secured:
            doc["security"] = "bearer"
        function = self.ns.doc(**doc)(function)
        if body is not None:
            function = self.ns.expect(body, validate=False)(function)
        return function

    def _problem(self, description, headers=None):
        return (description, self.problem, headers)

    def _common(self, *codes, conflict=None, unprocessable=None, conflict_headers=None):
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

    def _field_problems(self):
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

    def _write_problems(self):
        """The codes and texts of _common for a PUT or PATCH."""
        conflict, unprocessable = self._field_problems()
        codes = (409,) * bool(conflict) + (422,) * bool(unprocessable)
        return codes, {"conflict": conflict, "unprocessable": unprocessable}

    def _list_params(self):
        params = dict(LIST_PARAMS)
        if self.model.sortable:
            fields = "|".join(re.escape(name) for name in self.model.sortable)
            params["sort"] = _param(
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
            typed = dict(_FILTER_TYPES[kind])
            if kind == "enum":
                typed["enum"] = list(schema["enum"])
            for operator in filter_operators(self.model, name):
                if operator == "eq":
                    parameter, description = name, f"Exact match on {name}."
                else:
                    parameter = f"{name}[{operator}]"
                    description = (
                        f"Only {name} {_RANGE_WORDS[operator]} this value ({operator})."
                    )
                params[parameter] = {"in": "query", "description": description, **typed}
        return params

    def list(self, function):
        responses = {200: ("A page of items", self.page, LINK)}
        responses.update(self._common(400))
        return self._apply(function, responses, self._list_params())

    def create(self, function):
        responses = {201: ("Created", self.read, {**LOCATION, **ETAG, **REPLAYED})}
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

    def get(self, function):
        responses = {
            200: ("The resource", self.read, ETAG),
            304: ("Not modified", None, ETAG),
        }
        responses.update(self._common(404, 412))
        params = {"If-None-Match": IF_NONE_MATCH_READ, "If-Match": IF_MATCH}
        return self._apply(function, responses, params)

    def _write_params(self):
        return {"If-Match": IF_MATCH, "If-None-Match": IF_NONE_MATCH_WRITE}

    def replace(self, function):
        responses = {200: ("Replaced", self.read, ETAG)}
        codes, texts = self._write_problems()
        responses.update(self._common(400, 401, 404, 412, 413, 415, *codes, **texts))
        body = (self.write, "Every writable field: those left out are not kept.")
        return self._apply(
            function, responses, self._write_params(), body, secured=True
        )

    def patch(self, function):
        responses = {200: ("Patched", self.read, ETAG)}
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

    def delete(self, function):
        responses = {204: ("Deleted", None, None)}
        if self.model.lists_by_fields:
            # Any SQL feature may be referenced by another (the problem says which).
            referenced = "Other records refer to this one: change or delete them first"
            responses.update(self._common(401, 404, 409, 412, conflict=referenced))
        else:
            responses.update(self._common(401, 404, 412))
        return self._apply(function, responses, self._write_params(), secured=True)
