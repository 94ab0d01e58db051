"""Request ids and logs: JSON lines with the request's id, and an access log."""

import json
import logging
import time

from flask import Flask, Response, g, has_request_context, request
from flask.logging import default_handler

access_log = logging.getLogger("myapp.access")

# Where the request's id is kept, in the WSGI environ (set by ResponseHeaders).
REQUEST_ID = "myapp.request_id"


def current_request_id() -> str:
    return request.environ.get(REQUEST_ID, "-") if has_request_context() else "-"


class RequestIdFilter(logging.Filter):
    """Puts the request id on every log record made while serving a request."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for journald and log shippers."""

    def format(self, record: logging.LogRecord) -> str:
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


class AppLogHandler(logging.StreamHandler):
    """The handler configure_logging adds, so that the next app replaces it."""


def configure_logging(app: Flask) -> None:
    """One stream handler on our loggers, replacing the one a previous app added."""
    handler = AppLogHandler()
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
        for old in [h for h in logger.handlers if isinstance(h, AppLogHandler)]:
            logger.removeHandler(old)
        logger.removeHandler(default_handler)
        logger.addHandler(handler)
        logger.setLevel(level)
        logger.propagate = False


def start_timer() -> None:
    g.started = time.perf_counter()


def log_access(response: Response) -> Response:
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


def init_app(app: Flask) -> None:
    configure_logging(app)
    if app.config["ACCESS_LOG"]:
        app.before_request(start_timer)
        app.after_request(log_access)
