"""CORS: browsers on the origins listed in CORS_ORIGINS may call the API, no others.

``CORS_ORIGINS`` is empty in production unless set, and ``["*"]`` in development.
"""

from flask import Flask, Response
from flask_cors import CORS

# What a browser script may read from a response, and send in a request.
EXPOSED_HEADERS = [
    "ETag",
    "Location",
    "Link",
    "Retry-After",
    "X-Request-ID",
    "Idempotent-Replayed",
]
ALLOWED_HEADERS = [
    "Authorization",
    "Content-Type",
    "If-Match",
    "If-None-Match",
    "X-Request-ID",
    "Idempotency-Key",
]


def init_app(app: Flask) -> None:
    origins = app.config["CORS_ORIGINS"]
    if not origins:
        # No origin is allowed, so flask-cors would add nothing to any response:
        # leave it out rather than have it look at every request.
        return
    CORS(
        app,
        origins=origins,
        expose_headers=EXPOSED_HEADERS,
        allow_headers=ALLOWED_HEADERS,
        max_age=600,
        # "*" is sent as "*", and nothing is sent to requests without an Origin
        # (flask-cors would otherwise list the allowed origins to anyone).
        send_wildcard=True,
        always_send=False,
    )
    if origins and "*" not in origins:
        app.after_request(_vary_on_origin)


def _vary_on_origin(response: Response) -> Response:
    """With an allow-list the answer depends on Origin: caches must key on it."""
    response.vary.add("Origin")
    return response
