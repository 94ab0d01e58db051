"""Every setting of the service, in one table, and how configuration is loaded.

``SETTINGS`` names each setting with its parser, its default, what a bad value
must be instead, and its meaning. From it: the defaults (``load``), the typed
values (``normalise``: environment values arrive as strings), the production
start checks (``check_production``) and the README's settings table
(``readme_table``, checked by tests/test_settings.py). A value that cannot be used
stops the start with a ``ConfigError`` of one line. Adding a setting is one row.
"""

import os
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from flask import Flask

from default_config import CONFIGS

from .setting_types import (
    ENV_PREFIX,
    ConfigError,
    Setting,
    boolean,
    database_url,
    mapping,
    optional_http_url,
    optional_text,
    optional_token,
    rate_limit,
    redis_url,
    seconds,
    text,
    text_list,
    tokens,
    whole_number,
)

ENV_VARIABLE = "MYAPP_ENV"


SETTINGS = (
    Setting(
        "SQLALCHEMY_DATABASE_URI",
        database_url,
        None,
        "a SQLAlchemy database URL",
        "`postgresql+psycopg://...`, `mariadb+pymysql://...`, `mysql+pymysql://...`"
        " (see below)",
        "SQLite file `instance/myapp.db`",
        secret=True,
    ),
    Setting(
        "SQLALCHEMY_ENGINE_OPTIONS",
        mapping,
        {},
        "a mapping (in instance/config.py)",
        "extra SQLAlchemy engine options, over the service's own",
        "none",
    ),
    Setting(
        "SQL_CONNECT_TIMEOUT",
        whole_number(1),
        2,
        "a whole number of seconds >= 1",
        "seconds to wait for a database connection before answering 503",
        "2",
    ),
    Setting(
        "SQL_STATEMENT_TIMEOUT",
        seconds(allow_zero=True),
        10,
        "a number of seconds >= 0",
        "PostgreSQL and MySQL/MariaDB cancel a request's statement after this"
        " (503); 0: never. Migrations run without it",
        "10",
    ),
    Setting(
        "SQL_LOCK_TIMEOUT",
        seconds(allow_zero=False),
        5,
        "a number of seconds > 0",
        "how long a statement waits for a lock (a migration's, say) before it"
        " gives up with a 503",
        "5",
    ),
    Setting(
        "REDIS_URL",
        redis_url,
        "redis://localhost:6379/0",
        "a redis://, rediss:// or unix:// URL",
        "Redis for `bar`, idempotency keys and rate-limit counts"
        " (`redis://user:password@host:port/db`)",
        "`redis://localhost:6379/0`",
        secret=True,
    ),
    Setting(
        "REDIS_KEY_PREFIX",
        text,
        "myapp:",
        "a string",
        "every Redis key starts with it",
        "`myapp:`",
    ),
    Setting(
        "REDIS_SOCKET_CONNECT_TIMEOUT",
        seconds(allow_zero=False),
        0.25,
        "a number of seconds > 0",
        "seconds to wait for a Redis connection: a request never hangs on Redis",
        "0.25",
    ),
    Setting(
        "REDIS_SOCKET_TIMEOUT",
        seconds(allow_zero=False),
        1.0,
        "a number of seconds > 0",
        "seconds to wait for a Redis answer",
        "1.0",
    ),
    Setting(
        "STORE_RETRY_AFTER",
        whole_number(1),
        5,
        "a whole number of seconds >= 1",
        "`Retry-After` of a 503 when a store is unreachable or refuses writes",
        "5",
    ),
    Setting(
        "IDEMPOTENCY_KEY_TTL",
        whole_number(1),
        24 * 3600,
        "a whole number of seconds >= 1",
        "seconds a create's response is kept for a retry with its" " `Idempotency-Key`",
        "86400",
    ),
    Setting(
        "IDEMPOTENCY_LOCK_TTL",
        whole_number(1),
        60,
        "a whole number of seconds >= 1",
        "seconds a key stays claimed by a request that never finished (a killed"
        " worker): longer than any request may run (harakiri, 30 s)",
        "60",
    ),
    Setting(
        "API_TOKENS",
        tokens,
        [],
        "a comma-separated list of tokens, none empty",
        "bearer tokens allowed to write (comma-separated in the environment)",
        "none",
        secret=True,
    ),
    Setting(
        "AUTH_DISABLED",
        boolean,
        False,
        "true or false",
        "lets production start without tokens (anonymous writes); with tokens"
        " set it changes nothing",
        "false",
    ),
    Setting(
        "CORS_ORIGINS",
        text_list,
        [],
        "a comma-separated list of origins",
        "allowed origins, comma-separated",
        "none (`*` in development)",
    ),
    Setting(
        "MAX_CONTENT_LENGTH",
        whole_number(1),
        1024 * 1024,
        "a whole number of bytes >= 1",
        "larger bodies get 413; raise `client_max_body_size` in"
        " `deploy/nginx-myapp.conf` with it",
        "1 MiB",
    ),
    Setting(
        "RATELIMIT_DEFAULT",
        rate_limit,
        None,
        "a rate limit such as '100/minute' or '10/second;1000/hour'",
        "e.g. `100/minute` or `10/second;1000/hour`: one budget per client"
        " address (IPv6: per /64) over all routes",
        "off",
    ),
    Setting(
        "TRUSTED_PROXIES",
        whole_number(0),
        0,
        "a whole number >= 0",
        "reverse proxies whose `X-Forwarded-For` is believed",
        "0",
    ),
    Setting(
        "ACCESS_LOG",
        boolean,
        True,
        "true or false",
        "one log line per request",
        "true (false in tests)",
    ),
    Setting(
        "CURSOR_SECRET",
        optional_text,
        None,
        "a string",
        "key that signs list cursors (see Collections)",
        "derived from the store URLs",
        secret=True,
    ),
    Setting(
        "METRICS_TOKEN",
        optional_token,
        None,
        "a bearer token (visible ASCII, no spaces)",
        "bearer token for `GET /metrics` in production (404 while unset); see"
        " Monitoring",
        "none",
        secret=True,
    ),
    Setting(
        "METRICS_ENABLED",
        boolean,
        True,
        "true or false",
        "false: no request or store metrics, `/metrics` is 404",
        "true",
    ),
    Setting(
        "OTLP_ENDPOINT",
        optional_http_url,
        None,
        "an http:// or https:// URL",
        "OTLP/HTTP collector for traces, e.g. `http://127.0.0.1:4318`; no tracing"
        " while unset",
        "`OTEL_EXPORTER_OTLP_ENDPOINT`",
    ),
)

BY_NAME = {setting.name: setting for setting in SETTINGS}

# Flask's and flask-restx's own options that the config classes set.
FRAMEWORK_SETTINGS = frozenset({"DEBUG", "TESTING", "RESTX_ERROR_404_HELP"})


def environment() -> str:
    """production unless MYAPP_ENV names another configuration."""
    name = os.environ.get(ENV_VARIABLE, "production").strip().lower()
    if name not in CONFIGS:
        raise ConfigError(f"{ENV_VARIABLE} must be one of {', '.join(CONFIGS)}")
    return name


def load(app: Flask, env: str, test_config: Mapping[str, Any] | None) -> None:
    """Defaults, the environment's class, instance/config.py, MYAPP_* variables."""
    app.config.update({setting.name: setting.default for setting in SETTINGS})
    app.config.from_object(CONFIGS[env])
    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)
    else:
        app.config.from_mapping(test_config)
    app.config.from_prefixed_env(ENV_PREFIX)
    normalise(app)
    if env == "production":
        check_production(app.config)


def normalise(app: Flask) -> None:
    """Give each setting its real type through its parser (or stop the start)."""
    config = app.config
    # OpenTelemetry's own variable, when the service's is not set.
    if not config.get("OTLP_ENDPOINT"):
        config["OTLP_ENDPOINT"] = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    for setting in SETTINGS:
        config[setting.name] = setting.typed(config.get(setting.name))
    if not config["SQLALCHEMY_DATABASE_URI"]:
        path = os.path.join(app.instance_path, "myapp.db")
        config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{path}"
    config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(config)


def check_production(config: Mapping[str, Any]) -> None:
    """What production may not start with, though each value parses."""
    if not config["API_TOKENS"] and not config["AUTH_DISABLED"]:
        raise ConfigError(
            "No API tokens configured: set MYAPP_API_TOKENS=<token>[,<token>...]"
            " (or MYAPP_AUTH_DISABLED=true to accept anonymous writes;"
            " MYAPP_ENV=development to work locally)."
        )


def readme_table() -> list[str]:
    """The README's table of settings, as Markdown lines."""
    lines = ["| setting | default | meaning |", "|---|---|---|"]
    for setting in SETTINGS:
        lines.append(
            f"| `{setting.name}` | {setting.shown_default} | {setting.meaning} |"
        )
    return lines


def _milliseconds(value: float) -> int:
    return int(round(value * 1000))


def engine_options(config: Mapping[str, Any]) -> dict[str, Any]:
    """Pool and timeouts suited to the database in the URL."""
    url = sa.engine.make_url(config["SQLALCHEMY_DATABASE_URI"])
    backend = url.get_backend_name()
    # A pooled connection the database closed is replaced before use. PostgreSQL:
    # sql_store pings only connections that look closed, saving a round trip.
    options: dict[str, Any] = {"pool_pre_ping": backend != "postgresql"}
    timeout = config["SQL_CONNECT_TIMEOUT"]
    if backend == "postgresql":
        # Session settings sent with the connection: no round trip of their own.
        statement = _milliseconds(config["SQL_STATEMENT_TIMEOUT"])
        lock = _milliseconds(config["SQL_LOCK_TIMEOUT"])
        options["connect_args"] = {
            "connect_timeout": timeout,
            "options": f"-c statement_timeout={statement} -c lock_timeout={lock}",
        }
    elif backend in ("mysql", "mariadb"):
        # The statement and lock timeouts are set per connection by sql_store,
        # which knows whether the server is MySQL or MariaDB.
        options["connect_args"] = {"connect_timeout": timeout, "charset": "utf8mb4"}
        options["pool_recycle"] = 3600
    elif backend == "sqlite":
        # SQLite's busy timeout: how long a write waits for another's lock.
        options["connect_args"] = {"timeout": config["SQL_LOCK_TIMEOUT"]}
    options.update(config["SQLALCHEMY_ENGINE_OPTIONS"])
    return options
