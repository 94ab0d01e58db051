"""Configuration classes.

The factory loads one of these (production unless ``MYAPP_ENV`` says otherwise), then
``instance/config.py``, then every ``MYAPP_*`` environment variable.
"""


class Config:
    DEBUG = False
    TESTING = False
    # None means: a SQLite file in the instance folder (set by the factory).
    SQLALCHEMY_DATABASE_URI = None
    SQLALCHEMY_ENGINE_OPTIONS = {}
    # Seconds to wait for a database connection before answering 503.
    SQL_CONNECT_TIMEOUT = 2
    REDIS_URL = "redis://localhost:6379/0"
    REDIS_KEY_PREFIX = "myapp:"
    # Redis timeouts (seconds): a request never hangs on a lost Redis.
    REDIS_SOCKET_CONNECT_TIMEOUT = 0.25
    REDIS_SOCKET_TIMEOUT = 1.0
    # Sent as Retry-After with a 503 when a store is unreachable.
    STORE_RETRY_AFTER = 5
    # Seconds a create's response is kept for a repeat with its Idempotency-Key.
    IDEMPOTENCY_KEY_TTL = 24 * 3600
    # Seconds a key stays claimed by a request that never finished (a killed
    # worker): longer than any request may run (uWSGI's harakiri, 30 s).
    IDEMPOTENCY_LOCK_TTL = 60
    MAX_CONTENT_LENGTH = 1024 * 1024
    RESTX_ERROR_404_HELP = False
    # Comma-separated in the environment (MYAPP_CORS_ORIGINS); "*" allows every origin.
    CORS_ORIGINS = []
    # Bearer tokens that may write (MYAPP_API_TOKENS, comma-separated).
    API_TOKENS = []
    # Production refuses to start without tokens unless this is explicitly true.
    AUTH_DISABLED = False
    # e.g. "100/minute"; no rate limit unless set.
    RATELIMIT_DEFAULT = None
    # How many reverse proxies in front of the service set X-Forwarded-For.
    TRUSTED_PROXIES = 0
    # One JSON line per request on the "myapp.access" logger.
    ACCESS_LOG = True
    # Signs list cursors; None derives a key from the store URLs (myapp.api.paging).
    CURSOR_SECRET = None
    # Prometheus metrics of every request and store call, served at /metrics.
    METRICS_ENABLED = True
    # Bearer token Prometheus sends for /metrics in production (404 while unset).
    METRICS_TOKEN = None
    # OTLP/HTTP collector for traces, e.g. http://127.0.0.1:4318; no tracing when
    # unset. OTEL_EXPORTER_OTLP_ENDPOINT, OpenTelemetry's own variable, works too.
    OTLP_ENDPOINT = None


class ProductionConfig(Config):
    pass


class DevelopmentConfig(Config):
    DEBUG = True
    CORS_ORIGINS = ["*"]


class TestingConfig(Config):
    TESTING = True
    ACCESS_LOG = False


CONFIGS = {
    "production": ProductionConfig,
    "development": DevelopmentConfig,
    "testing": TestingConfig,
}
