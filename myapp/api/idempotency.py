"""Retries without duplicates: the ``Idempotency-Key`` header on creates.

A client whose POST timed out cannot tell whether it happened; with a key it may
send it again. The first request with a key claims it in Redis (``SET NX``, so two
requests can never both run), runs, and on success leaves its response there for
``IDEMPOTENCY_KEY_TTL`` seconds (24 h): a repeat with the same body gets that
response again, with ``Idempotent-Replayed: true``, and creates nothing.

Keys are scoped per bearer token (its SHA-256, never the token), and the body is
compared by its canonical JSON, so whitespace or member order do not count. Only a
2xx is kept: a request that failed (4xx, 5xx, lost store) created nothing, so its
claim is released and the same key may be tried again, e.g. with a corrected body.
A claim whose process died is freed by its own TTL (``IDEMPOTENCY_LOCK_TTL``).
Without Redis a request with a key is a 503 rather than a risk of a duplicate.
"""

import hashlib
import json
import logging
import re
import secrets
from typing import Callable

import redis
from flask import current_app, request
from werkzeug.exceptions import BadRequest
from werkzeug.wrappers import Response

from ..db import redis_store
from .problems import Problem

HEADER = "Idempotency-Key"
ENVIRON_KEY = "HTTP_IDEMPOTENCY_KEY"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
KEY_PATTERN = "^[ -~]{1,255}$"
# Keys live under REDIS_KEY_PREFIX + this.
KEY_SPACE = "idempotency"
# Headers of the first response that a replay repeats.
REPLAYED_HEADERS = ("Content-Type", "Location", "ETag")
# Seconds a client is asked to wait while the first request is still running.
IN_FLIGHT_RETRY_AFTER = 1

_PRINTABLE = re.compile(KEY_PATTERN)

log = logging.getLogger(__name__)

# Keeps the response only if the claim is still this request's own.
COMPLETE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return 1
"""

RELEASE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
"""


class KeyInFlight(Problem):
    def __init__(self) -> None:
        super().__init__(
            409,
            "A request with this Idempotency-Key is still being processed;"
            " retry after Retry-After seconds.",
            headers={"Retry-After": str(IN_FLIGHT_RETRY_AFTER)},
        )


class KeyReused(Problem):
    def __init__(self) -> None:
        super().__init__(
            422,
            "This Idempotency-Key was used with a different request body (or path);"
            " use a new key for a new request.",
        )


def _key_from_request() -> str | None:
    key = request.environ.get(ENVIRON_KEY)
    if key is not None and not _PRINTABLE.fullmatch(key):
        raise BadRequest(
            f"{HEADER} must be 1 to {MAX_KEY_LENGTH} printable ASCII characters."
        )
    return key


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


def _scope() -> str:
    """Whose key it is: the bearer token's digest, or one scope for no token."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() == "bearer" and token:
        return _digest(token)
    return "anonymous"


def _fingerprint() -> str:
    """The request as compared between repeats: path and canonical JSON body."""
    raw = request.get_data(cache=True)
    try:
        body = json.dumps(
            json.loads(raw), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )
    except (ValueError, RecursionError):
        body = raw.decode("utf-8", "surrogateescape")
    return _digest(f"{request.method} {request.path}\n{body}")


def _redis_key(key: str) -> str:
    prefix = current_app.config["REDIS_KEY_PREFIX"]
    return f"{prefix}{KEY_SPACE}:{_scope()}:{_digest(key)}"


def _claim(redis_key: str, claim: str) -> dict | None:
    """Take the key for this request (None), or return what holds it already."""
    lock_ttl = current_app.config["IDEMPOTENCY_LOCK_TTL"]
    for _ in range(3):
        if redis_store.client.set(redis_key, claim, nx=True, ex=lock_ttl):
            return None
        held = redis_store.client.get(redis_key)
        if held is not None:
            return json.loads(held)
        # Released between the two calls: try to claim it again.
    raise KeyInFlight()


def _replay(stored: dict) -> Response:
    response = Response(stored["body"], status=stored["status"])
    response.headers.clear()
    response.headers.extend(stored["headers"])
    response.headers[REPLAYED_HEADER] = "true"
    return response


def _stored(fingerprint: str, response: Response) -> str:
    headers = [
        (name, value) for name, value in response.headers if name in REPLAYED_HEADERS
    ]
    return json.dumps(
        {
            "fingerprint": fingerprint,
            "status": response.status_code,
            "headers": headers,
            "body": response.get_data(as_text=True),
        }
    )


def _release(redis_key: str, claim: str) -> None:
    """Free the key after a failure; if Redis is gone, its TTL will."""
    try:
        redis_store.client.eval(RELEASE, 1, redis_key, claim)
    except redis.exceptions.RedisError as error:
        log.warning("could not release idempotency key: %s", error)


def once(handler: Callable[[], Response]) -> Response:
    """Run ``handler`` for this request at most once per Idempotency-Key."""
    key = _key_from_request()
    if key is None:
        return handler()
    fingerprint = _fingerprint()
    redis_key = _redis_key(key)
    claim = json.dumps(
        {"fingerprint": fingerprint, "claim": secrets.token_hex(16)}, sort_keys=True
    )
    held = _claim(redis_key, claim)
    if held is not None:
        if held["fingerprint"] != fingerprint:
            raise KeyReused()
        if "status" not in held:
            raise KeyInFlight()
        return _replay(held)

    try:
        response = handler()
    except BaseException:
        _release(redis_key, claim)
        raise
    if not 200 <= response.status_code < 300:
        _release(redis_key, claim)
        return response
    try:
        redis_store.client.eval(
            COMPLETE,
            1,
            redis_key,
            claim,
            _stored(fingerprint, response),
            current_app.config["IDEMPOTENCY_KEY_TTL"],
        )
    except redis.exceptions.RedisError as error:
        # The write happened: say so. A retry after the claim's TTL could repeat it.
        log.error("could not keep the response for an idempotency key: %s", error)
    return response
