"""/docs and /openapi.json: the whole service's documentation.

/openapi.json merges every feature's OpenAPI 3.1 document. /docs is one
swagger-ui page whose selector offers it first, then each feature's 3.1 document
and Swagger 2.0 spec. That swagger-ui (5.x, which renders OpenAPI 3.1) is the
swagger-ui-dist build packaged in flask-swagger-ui, pinned in requirements.txt
and served from its package folder with its licence (no CDN). Each feature's Api
keeps its own page at /v1/<feature>/docs (flask-restx's swagger-ui, Swagger 2.0).
"""

import os
from typing import Any

import flask_swagger_ui
from flask import (
    Blueprint,
    Flask,
    current_app,
    render_template,
    send_from_directory,
    url_for,
)
from flask.typing import ResponseReturnValue

from . import openapi
from .resources import SERVICE_NOTES

blueprint = Blueprint("docs", __name__)

SWAGGER_UI_DIST = os.path.join(os.path.dirname(flask_swagger_ui.__file__), "dist")
SERVICE_INFO = {
    "title": "myapp API",
    "version": "1.0",
    "description": "Every feature of the service, one tag each, under its own"
    " path." + SERVICE_NOTES,
}


def init_app(app: Flask, features: Any) -> None:
    """Register /docs and /openapi.json over the given feature blueprints."""
    names = [feature.name for feature in features]
    app.config["DOCS_FEATURES"] = names
    app.register_blueprint(blueprint)


def service_document() -> dict:
    """The whole service's OpenAPI 3.1 document, built once per app."""
    extensions = current_app.extensions
    if "service_openapi" not in extensions:
        apis = extensions["feature_apis"]
        extensions["service_openapi"] = openapi.merge(
            (
                apis[name].openapi_document
                for name in current_app.config["DOCS_FEATURES"]
            ),
            SERVICE_INFO,
        )
    return extensions["service_openapi"]


@blueprint.get("/openapi.json")
def service_openapi() -> ResponseReturnValue:
    return current_app.json.response(service_document())


@blueprint.get("/docs")
def service_docs() -> str:
    """The whole service's docs: swagger-ui's ``urls`` option lists each document."""
    urls = [{"name": "myapp (OpenAPI 3.1)", "url": url_for("docs.service_openapi")}]
    for name in current_app.config["DOCS_FEATURES"]:
        urls.append(
            {"name": f"{name} (OpenAPI 3.1)", "url": url_for(f"{name}.openapi")}
        )
        urls.append({"name": f"{name} (Swagger 2.0)", "url": url_for(f"{name}.specs")})
    return render_template("docs.html", urls=urls)


@blueprint.get("/docs/assets/<path:filename>")
def swagger_ui_asset(filename: str) -> ResponseReturnValue:
    """swagger-ui's files (and its LICENSE), as packaged."""
    return send_from_directory(SWAGGER_UI_DIST, filename, max_age=3600)
