"""/docs: one swagger-ui page with a selector over every feature's spec.

Served from flask-restx's bundled swagger-ui assets (no CDN). Each feature's Api
keeps its own page at /v1/<feature>/docs.
"""

from flask import Blueprint, current_app, render_template, url_for

blueprint = Blueprint("docs", __name__)


def init_app(app, features):
    """Register /docs, listing the spec of each feature blueprint."""
    names = [feature.name for feature in features]
    app.config["DOCS_FEATURES"] = names
    app.register_blueprint(blueprint)


@blueprint.get("/docs")
def service_docs():
    """The whole service's docs: swagger-ui's ``urls`` option lists each spec."""
    urls = [
        {"name": name, "url": url_for(f"{name}.specs")}
        for name in current_app.config["DOCS_FEATURES"]
    ]
    return render_template("docs.html", urls=urls)
