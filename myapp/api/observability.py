"""Request ids, access logs and security headers, on every response."""

import json
import logging
import os
import re
import time

from flask import g, has_request_context, request
from flask.logging import default_handler

_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")

access_log = logging.getLogger("myapp.access")

API_CSP = "default-src 'none'; frame-ancestors 'none'"
# swagger-ui's page configures itself with inline script and style.
DOCS_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline';"
    " script-src 'self' 'unsafe-inline'; frame-ancestors 'none'"
)


# Where the request's id is kept, in the WSGI environ (set by ResponseHeaders).
REQUEST_ID = "myapp.request_id"


def current_request_id():
    return request.environ.get(REQUEST_ID, "-") if has_request_context() else "-"


class RequestIdFilter(logging.Filter):
    """Puts the request id on every log record made while serving a request."""

    def filter(self, record):
        record.request_id = current_request_id()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for journald and log shippers."""

    def format(self, record):
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(app):
    """One stream handler on our loggers, replacing the one a previous app added."""
    handler = logging.StreamHandler()
    handler.myapp_handler = True
    handler.addFilter(RequestIdFilter())
    if app.debug or app.testing:
        handler.setFormatter(
            logging.Formatter("%(levelname)s [%(request_id)s] %(name)s: %(message)s")
        )
    else:
        handler.setFormatter(JsonFormatter())
    # flask-limiter's lines from warnings up: storage failures, not each breach
    # (the access log shows those as 429s).
    levels = {
        "myapp": logging.INFO,
        app.logger.name: logging.INFO,
        "flask-limiter": logging.WARNING,
    }
    for name, level in levels.items():
        logger = logging.getLogger(name)
        for old in [h for h in logger.handlers if getattr(h, "myapp_handler", False)]:
            logger.removeHandler(old)
        logger.removeHandler(default_handler)
        logger.addHandler(handler)
        logger.setLevel(level)
        logger.propagate = False


# uuid.uuid4().hex, without building a UUID object per request: 128 random bits
# with the version (4) and variant (10) bits set.
_UUID4_KEEP = ~((0xF000 << 64) | (0xC000 << 48)) & (2**128 - 1)
_UUID4_SET = (0x4000 << 64) | (0x8000 << 48)


def new_request_id():
    return "%032x" % (int.from_bytes(os.urandom(16), "big") & _UUID4_KEEP | _UUID4_SET)


def _fixed_headers(csp):
    return [
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
        ("X-Frame-Options", "DENY"),
        ("Content-Security-Policy", csp),
        ("Server", "myapp"),
    ]


# Built once, for HTML (the docs) and for everything else.
API_HEADERS = _fixed_headers(API_CSP)
DOCS_HEADERS = _fixed_headers(DOCS_CSP)


class ResponseHeaders:
    """WSGI middleware: every response gets X-Request-ID and the fixed headers.

    The request's id (the client's X-Request-ID if sane, else a new one) is kept
    in the environ for the logs. The headers join the list the app hands to
    start_response, so every response gets them (errors, docs and files too) at
    the cost of one list, not of Werkzeug's checks on each header of each
    response. No response sets these headers itself.
    """

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        supplied = environ.get("HTTP_X_REQUEST_ID")
        if supplied and _SANE_REQUEST_ID.fullmatch(supplied):
            request_id = supplied
        else:
            request_id = new_request_id()
        environ[REQUEST_ID] = request_id

        def start(status, headers, exc_info=None):
            fixed = API_HEADERS
            for name, value in headers:
                if name.lower() == "content-type":
                    if value.startswith("text/html"):
                        fixed = DOCS_HEADERS
                    break
            headers = [*headers, ("X-Request-ID", request_id), *fixed]
            return start_response(status, headers, exc_info)

        return self.wsgi_app(environ, start)


def start_timer():
    g.started = time.perf_counter()


def log_access(response):
    started = getattr(g, "started", None)
    if started is not None:
        access_log.info(
            "%s %s %s",
            request.method,
            request.path,
            response.status_code,
            extra={
                "fields": {
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    "client": request.remote_addr,
                }
            },
        )
    return response


def init_app(app):
    configure_logging(app)
    app.wsgi_app = ResponseHeaders(app.wsgi_app)
    if app.config["ACCESS_LOG"]:
        app.before_request(start_timer)
        app.after_request(log_access)
