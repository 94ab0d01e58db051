"""Loading configuration: class, then instance/config.py, then MYAPP_* variables."""

import os
import re

import sqlalchemy as sa

from default_config import CONFIGS

from .api.auth import ConfigError

ENV_VARIABLE = "MYAPP_ENV"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def environment():
    """production unless MYAPP_ENV names another configuration."""
    name = os.environ.get(ENV_VARIABLE, "production").strip().lower()
    if name not in CONFIGS:
        raise ConfigError(f"{ENV_VARIABLE} must be one of {', '.join(CONFIGS)}")
    return name


def _as_list(value):
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return list(value or [])


def _as_bool(name, value):
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE | _FALSE:
        return text in _TRUE
    raise ConfigError(f"{name} must be true or false, not {value!r}")


def _as_count(name, value):
    """A whole number >= 0 (environment values may arrive as strings)."""
    text = str(value).strip()
    if isinstance(value, bool) or not re.fullmatch(r"[0-9]+", text):
        raise ConfigError(f"{name} must be a whole number >= 0, not {value!r}")
    return int(text)


def _as_optional_text(value):
    text = "" if value is None else str(value).strip()
    return text or None


def _as_token(name, value):
    """None when unset; otherwise a non-empty string, as a secret must be."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{name} must be a non-empty string of characters")
    return value.strip()


def _as_url(name, value):
    """None when unset; otherwise an http(s) URL."""
    text = _as_optional_text(value)
    if text is not None and not re.fullmatch(r"https?://[^\s/]+(/\S*)?", text):
        raise ConfigError(f"{name} must be an http:// or https:// URL, not {value!r}")
    return text


def load(app, env, test_config):
    app.config.from_object(CONFIGS[env])
    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)
    else:
        app.config.from_mapping(test_config)
    app.config.from_prefixed_env("MYAPP")
    normalise(app)


def normalise(app):
    """Environment values arrive as strings: give each setting its real type."""
    config = app.config
    for name in ("API_TOKENS", "CORS_ORIGINS"):
        config[name] = _as_list(config[name])
    for name in ("AUTH_DISABLED", "ACCESS_LOG", "METRICS_ENABLED"):
        config[name] = _as_bool(name, config[name])
    config["REDIS_KEY_PREFIX"] = str(config["REDIS_KEY_PREFIX"])
    config["TRUSTED_PROXIES"] = _as_count("TRUSTED_PROXIES", config["TRUSTED_PROXIES"])
    for name in ("IDEMPOTENCY_KEY_TTL", "IDEMPOTENCY_LOCK_TTL"):
        config[name] = _as_count(name, config[name])
        if not config[name]:
            raise ConfigError(f"{name} must be at least 1 (seconds)")
    config["RATELIMIT_DEFAULT"] = _as_optional_text(config["RATELIMIT_DEFAULT"])
    config["CURSOR_SECRET"] = _as_optional_text(config.get("CURSOR_SECRET"))
    config["METRICS_TOKEN"] = _as_token("METRICS_TOKEN", config["METRICS_TOKEN"])
    config["OTLP_ENDPOINT"] = _as_url(
        "OTLP_ENDPOINT",
        config["OTLP_ENDPOINT"] or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"),
    )
    if not config["SQLALCHEMY_DATABASE_URI"]:
        path = os.path.join(app.instance_path, "myapp.db")
        config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{path}"
    config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(config)


def engine_options(config):
    """Pool and timeouts suited to the database in the URL."""
    url = sa.engine.make_url(config["SQLALCHEMY_DATABASE_URI"])
    # A pooled connection the database closed is replaced before use. PostgreSQL:
    # sql_store pings only connections that look closed, saving a round trip.
    options = {"pool_pre_ping": url.get_backend_name() != "postgresql"}
    timeout = config["SQL_CONNECT_TIMEOUT"]
    if url.get_backend_name() == "postgresql":
        options["connect_args"] = {"connect_timeout": timeout}
    elif url.get_backend_name() in ("mysql", "mariadb"):
        options["connect_args"] = {"connect_timeout": timeout, "charset": "utf8mb4"}
        options["pool_recycle"] = 3600
    elif url.get_backend_name() == "sqlite":
        options["connect_args"] = {"timeout": 10}
    options.update(config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    return options
