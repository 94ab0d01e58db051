"""A feature's Api and the documentation of its CRUD operations, written once."""

from functools import cached_property

from flask_restx import Api

from .auth import require_token_for_writes
from .bodies import JSON, MERGE_PATCH
from .paging import DEFAULT_LIMIT, MAX_LIMIT, MAX_OFFSET
from .problems import PROBLEM_MIMETYPE
from .schemas import PROBLEM, list_schema, swagger_schema

BEARER = {
    "bearer": {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "Writes need 'Bearer <token>' with a configured API token.",
    }
}


def _problem_output(data, code, headers=None):
    raise NotImplementedError("problems are rendered by myapp.api.problems")


class FeatureApi(Api):
    """One feature's Api: docs at /<name>/docs and spec at /<name>/swagger.json.

    Errors are left to the app's problem+json handlers rather than restx's own.
    """

    def __init__(self, blueprint, name, **kwargs):
        super().__init__(
            blueprint,
            doc=f"/{name}/docs",
            default_swagger_filename=f"{name}/swagger.json",
            authorizations=BEARER,
            **kwargs,
        )
        blueprint.before_request(require_token_for_writes)
        # Listed so the spec's "produces" admits the error bodies too.
        self.representations[PROBLEM_MIMETYPE] = _problem_output

    def error_router(self, original_handler, e):
        return original_handler(e)

    @cached_property
    def __schema__(self):
        schema = super().__schema__
        for operations in schema.get("paths", {}).values():
            if "patch" in operations:
                operations["patch"]["consumes"] = [MERGE_PATCH, JSON]
        return schema


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
        "query", "integer", "Items to skip.", minimum=0, maximum=MAX_OFFSET, default=0
    ),
}
IF_MATCH = _param(
    "header", "string", "Apply only if the resource's ETag matches (else 412)."
)
IF_NONE_MATCH_READ = _param(
    "header", "string", "Answer 304 if one of these ETags is current."
)
IF_NONE_MATCH_WRITE = _param(
    "header", "string", "Apply only if none of these ETags is current (else 412)."
)
ETAG = {"ETag": {"type": "string", "description": "Strong entity tag."}}
LOCATION = {"Location": {"type": "string", "description": "Path of the new resource."}}
LINK = {"Link": {"type": "string", "description": 'RFC 8288 rel="next"/"prev".'}}
RETRY_AFTER = {"Retry-After": {"type": "integer", "description": "Seconds to wait."}}


class CrudDocs:
    """Decorators that document a resource's CRUD operations from its model's schemas.

    Documentation only: behaviour lives in myapp.api.crud.
    """

    def __init__(self, namespace, model, name):
        self.ns = namespace
        self.model = model
        self.read = namespace.schema_model(name, swagger_schema(model.read_schema))
        self.write = namespace.schema_model(
            f"{name}Write", swagger_schema(model.write_schema)
        )
        self.patch_model = namespace.schema_model(
            f"{name}Patch", swagger_schema(model.patch_schema)
        )
        self.page = namespace.schema_model(
            f"{name}Page",
            swagger_schema(list_schema({"$ref": f"#/definitions/{name}"}, name)),
        )
        self.problem = namespace.schema_model("Problem", PROBLEM)

    def _apply(self, function, responses, params=None, body=None, secured=False):
        for code, (description, model, headers) in responses.items():
            kwargs = {"headers": headers} if headers else {}
            function = self.ns.response(code, description, model, **kwargs)(function)
        doc = {"params": params or {}}
        if secured:
            doc["security"] = "bearer"
        function = self.ns.doc(**doc)(function)
        if body is not None:
            function = self.ns.expect(body, validate=False)(function)
        return function

    def _problem(self, description, headers=None):
        return (description, self.problem, headers)

    def _common(self, *codes):
        known = {
            400: self._problem("Invalid request"),
            401: self._problem("Missing or unknown bearer token"),
            404: self._problem("Not found"),
            412: self._problem("A precondition (If-Match/If-None-Match) failed"),
            413: self._problem("Body larger than MAX_CONTENT_LENGTH"),
            415: self._problem("Body is not JSON"),
            429: self._problem("Rate limit exceeded", RETRY_AFTER),
            503: self._problem("Store unavailable", RETRY_AFTER),
        }
        return {code: known[code] for code in codes}

    def _list_params(self):
        params = dict(LIST_PARAMS)
        if self.model.sortable:
            options = [f"{p}{f}" for f in self.model.sortable for p in ("", "-")]
            params["sort"] = _param(
                "query", "string", "Sort order; '-' for descending.", enum=options
            )
        for name in self.model.filterable:
            params[name] = _param("query", "string", f"Exact match on {name}.")
        return params

    def list(self, function):
        responses = {200: ("A page of items", self.page, LINK)}
        responses.update(self._common(400, 429, 503))
        return self._apply(function, responses, self._list_params())

    def create(self, function):
        responses = {201: ("Created", self.read, {**LOCATION, **ETAG})}
        responses.update(self._common(400, 401, 413, 415, 429, 503))
        return self._apply(function, responses, body=self.write, secured=True)

    def get(self, function):
        responses = {
            200: ("The resource", self.read, ETAG),
            304: ("Not modified", None, ETAG),
        }
        responses.update(self._common(404, 412, 429, 503))
        params = {"If-None-Match": IF_NONE_MATCH_READ, "If-Match": IF_MATCH}
        return self._apply(function, responses, params)

    def _write_params(self):
        return {"If-Match": IF_MATCH, "If-None-Match": IF_NONE_MATCH_WRITE}

    def replace(self, function):
        responses = {200: ("Replaced", self.read, ETAG)}
        responses.update(self._common(400, 401, 404, 412, 413, 415, 429, 503))
        return self._apply(
            function, responses, self._write_params(), self.write, secured=True
        )

    def patch(self, function):
        responses = {200: ("Patched", self.read, ETAG)}
        responses.update(self._common(400, 401, 404, 412, 413, 415, 429, 503))
        return self._apply(
            function, responses, self._write_params(), self.patch_model, secured=True
        )

    def delete(self, function):
        responses = {204: ("Deleted", None, None)}
        responses.update(self._common(401, 404, 412, 429, 503))
        return self._apply(function, responses, self._write_params(), secured=True)
