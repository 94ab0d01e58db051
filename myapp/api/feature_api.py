"""A feature's Api: its blueprint, its Swagger 2.0 spec and OpenAPI 3.1 document,
and plain dispatch of its resources.

The spec must tell the truth: every status an operation can answer is listed with
its schema and headers (crud_docs.py), and tests (the contract tests, schemathesis
over a live server) hold the service to it. The OpenAPI 3.1 document is translated
from the spec (openapi.py), with the models' own JSON Schemas, so the two always
say the same.
"""

import copy
import functools
import inspect
from typing import Any, Callable, NoReturn

from flask import Blueprint, current_app, request
from flask.blueprints import BlueprintSetupState
from flask_restx import Api
from flask_restx.utils import unpack
from werkzeug.sansio.response import Response as BaseResponse
from werkzeug.wrappers import Response

from . import openapi
from .auth import WRITE_METHODS, require_token_for_writes
from .bodies import JSON, MERGE_PATCH
from .problems import PROBLEM_MIMETYPE

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


def _problem_output(data: Any, code: int, headers: Any = None) -> NoReturn:
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

    def __init__(
        self, blueprint: Blueprint, name: str, description: str = "", **kwargs: Any
    ) -> None:
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
        self.crud_docs: list[Any] = []
        self.json_schemas: dict[str, dict] = {}
        blueprint.add_url_rule(
            f"/{name}/openapi.json", "openapi", self._serve_openapi, methods=["GET"]
        )
        blueprint.record_once(self._register_on_app)
        # Listed so the spec's "produces" admits the error bodies too.
        self.representations[PROBLEM_MIMETYPE] = _problem_output

    def _register_on_app(self, state: BlueprintSetupState) -> None:
        """Found by the service-wide docs (/docs, /openapi.json) by feature name."""
        state.app.extensions.setdefault("feature_apis", {})[self.blueprint.name] = self

    def error_router(self, original_handler: Callable, e: Exception) -> Any:
        return original_handler(e)

    def output(self, view: Any) -> Callable[..., Any]:
        """A resource's view: writes need a token (auth.py) before anything else.

        Checked here, where the method is known, rather than in a hook that
        every read would run too.
        """
        plain = self._plain_dispatch(view)
        if plain is not None:
            return plain
        dispatch = super().output(view)
        if not WRITE_METHODS & set(view.methods):
            return dispatch

        @functools.wraps(dispatch)
        def guarded(**kwargs: Any) -> Any:
            if request.method in WRITE_METHODS:
                require_token_for_writes()
            return dispatch(**kwargs)

        return guarded

    def _plain_dispatch(self, view: Any) -> Callable[..., Any] | None:
        """A feature's resource as a plain view: its method, called straight.

        restx would make a Resource per request, look its method up by name, run
        its payload validation (off: schemas.py validates) and check the result
        twice; for a resource with nothing to decorate or validate, one instance
        and a table of its methods answer the same, writes checked for their
        token first. Anything else (restx's own views, decorated or validating
        resources) keeps restx's dispatch: None.
        """
        resource = view.view_class
        if not self._dispatches_plainly(resource):
            return None
        instance = resource(self)
        handlers = {
            method: getattr(instance, method.lower()) for method in view.methods
        }
        if "GET" in handlers:
            handlers.setdefault("HEAD", handlers["GET"])
        make_response = self.make_response

        @functools.wraps(view)
        def dispatch(**kwargs: Any) -> Any:
            method = request.method
            if method in WRITE_METHODS:
                require_token_for_writes()
            response = handlers[method](**kwargs)
            if isinstance(response, Response):
                return response
            data, code, headers = unpack(response)
            return make_response(data, code, headers=headers)

        return dispatch

    def _dispatches_plainly(self, resource: Any) -> bool:
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
    def __schema__(self) -> dict:
        """The spec, built once per app: what a store can hold depends on its URL."""
        specs = current_app.extensions.setdefault("feature_specs", {})
        if self.blueprint.name not in specs:
            specs[self.blueprint.name] = self._spec_for_this_app()
        return specs[self.blueprint.name]

    def _spec_for_this_app(self) -> dict:
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

    def _serve_openapi(self) -> BaseResponse:
        return current_app.json.response(self.openapi_document)
