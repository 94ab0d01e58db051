"""The application factory: read it as the service's table of contents."""

import os

from werkzeug.middleware.proxy_fix import ProxyFix

from . import scaffold, settings
from .api import (
    cors,
    docs,
    ids,
    limits,
    logs,
    metrics,
    problems,
    security_headers,
    tracing,
)
from .api.flask_app import App
from .api.sql_engines import prepare_engines
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


def create_app(test_config=None, env=None):
    """Build the app; ``test_config`` (tests) replaces instance/config.py."""
    if env is None:
        env = "testing" if test_config is not None else settings.environment()
    app = App(__name__, instance_relative_config=True)
    os.makedirs(app.instance_path, exist_ok=True)
    settings.load(app, env, test_config)

    trust_proxies(app)
    logs.init_app(app)
    security_headers.init_app(app)
    register_extensions(app)
    register_blueprints(app)
    problems.register_error_handlers(app)
    register_commands(app)
    tracing.init_app(app)
    metrics.init_app(app)
    return app


def trust_proxies(app):
    """Believe X-Forwarded-For only as far back as TRUSTED_PROXIES proxies go."""
    proxies = app.config["TRUSTED_PROXIES"]
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies)


def register_extensions(app):
    sql.init_app(app)
    prepare_engines(app)
    migrate.init_app(app, sql, directory=MIGRATIONS, render_as_batch=True)
    redis_store.init_app(app)
    cors.init_app(app)
    limits.init_app(app, exempt=[ops_blueprint])


def register_blueprints(app):
    ids.init_app(app)
    app.register_blueprint(ops_blueprint)
    for blueprint in FEATURES:
        app.register_blueprint(blueprint, url_prefix=API_PREFIX)
    docs.init_app(app, FEATURES)


def register_commands(app):
    """Developer commands, besides Flask-Migrate's `flask db`."""
    app.cli.add_command(scaffold.scaffold)
