"""Security headers and X-Request-ID on every response, as WSGI middleware."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from flask import Flask

from .ids import uuid4_hex
from .logs import REQUEST_ID

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")

API_CSP = "default-src 'none'; frame-ancestors 'none'"
# swagger-ui's page configures itself with inline script and style.
DOCS_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline';"
    " script-src 'self' 'unsafe-inline'; frame-ancestors 'none'"
)


def _fixed_headers(csp: str) -> list[tuple[str, str]]:
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

    def __init__(self, wsgi_app: WSGIApplication) -> None:
        self.wsgi_app = wsgi_app

    def __call__(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        supplied = environ.get("HTTP_X_REQUEST_ID")
        if supplied and _SANE_REQUEST_ID.fullmatch(supplied):
            request_id = supplied
        else:
            request_id = uuid4_hex()
        environ[REQUEST_ID] = request_id

        def start(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Any:
            fixed = API_HEADERS
            for name, value in headers:
                if name.lower() == "content-type":
                    if value.startswith("text/html"):
                        fixed = DOCS_HEADERS
                    break
            headers = [*headers, ("X-Request-ID", request_id), *fixed]
            return start_response(status, headers, exc_info)

        return self.wsgi_app(environ, start)


def init_app(app: Flask) -> None:
    app.wsgi_app = ResponseHeaders(app.wsgi_app)  # type: ignore[method-assign]
