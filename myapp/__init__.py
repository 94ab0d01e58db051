"""The application factory: read it as the service's table of contents."""

import os

from flask import Flask
from flask_cors import CORS

from . import scaffold, settings
from .api import auth, docs, observability, problems
from .api.sql_store import prepare_engines
from .bar import blueprint as bar_blueprint
from .db import migrate, redis_store, sql
from .foo import blueprint as foo_blueprint
from .ops import blueprint as ops_blueprint

API_PREFIX = "/v1"
MIGRATIONS = os.path.join(os.path.dirname(os.path.dirname(__file__)), "migrations")

# One blueprint per feature, each with its own Api (docs at /v1/<feature>/docs).
# `flask scaffold` adds a feature's import above and its entry here.
FEATURES = [
    foo_blueprint,
    bar_blueprint,
]

EXPOSED_HEADERS = ["ETag", "Location", "Link", "Retry-After", "X-Request-ID"]
ALLOWED_HEADERS = [
    "Authorization",
    "Content-Type",
    "If-Match",
    "If-None-Match",
    "X-Request-ID",
]


def create_app(test_config=None, env=None):
    """Build the app; ``test_config`` (tests) replaces instance/config.py."""
    if env is None:
        env = "testing" if test_config is not None else settings.environment()
    app = Flask(__name__, instance_relative_config=True)
    os.makedirs(app.instance_path, exist_ok=True)
    settings.load(app, env, test_config)
    auth.check_config(app, env)

    observability.init_app(app)
    register_extensions(app)
    register_blueprints(app)
    problems.register_error_handlers(app)
    register_commands(app)
    return app


def register_extensions(app):
    sql.init_app(app)
    prepare_engines(app)
    migrate.init_app(app, sql, directory=MIGRATIONS, render_as_batch=True)
    redis_store.init_app(app)
    CORS(
        app,
        origins=app.config["CORS_ORIGINS"],
        expose_headers=EXPOSED_HEADERS,
        allow_headers=ALLOWED_HEADERS,
        max_age=600,
    )


def register_blueprints(app):
    app.register_blueprint(ops_blueprint)
    for blueprint in FEATURES:
        app.register_blueprint(blueprint, url_prefix=API_PREFIX)
    docs.init_app(app, FEATURES)


def register_commands(app):
    """Developer commands, besides Flask-Migrate's `flask db`."""
    app.cli.add_command(scaffold.scaffold)
