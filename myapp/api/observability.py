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


def current_request_id():
    return getattr(g, "request_id", "-") if has_request_context() else "-"


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


def start_request():
    supplied = request.environ.get("HTTP_X_REQUEST_ID")
    g.request_id = (
        supplied
        if supplied and _SANE_REQUEST_ID.fullmatch(supplied)
        else new_request_id()
    )
    g.started = time.perf_counter()


def _fixed_headers(csp):
    return [
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
        ("X-Frame-Options", "DENY"),
        ("Content-Security-Policy", csp),
        ("Server", "myapp"),
    ]


# Built once; no response sets these itself, so adding them all at once (one
# extend, not a set per header that scans the list) gives the same headers.
API_HEADERS = _fixed_headers(API_CSP)
DOCS_HEADERS = _fixed_headers(DOCS_CSP)


def finish_response(response):
    request_id = g.get("request_id")
    if request_id is None:
        request_id = g.request_id = new_request_id()
    headers = response.headers
    fixed = (
        DOCS_HEADERS
        if headers.get("Content-Type", "").startswith("text/html")
        else API_HEADERS
    )
    headers.extend([("X-Request-ID", request_id), *fixed])
    return response


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
    app.before_request(start_request)
    app.after_request(finish_response)
    if app.config["ACCESS_LOG"]:
        app.after_request(log_access)
