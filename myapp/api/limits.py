"""Rate limits per client address (Flask-Limiter), counted in the service's Redis.

Off unless ``RATELIMIT_DEFAULT`` is set (e.g. ``100/minute``): one budget per
client address (an IPv6 client per /64) across every route (not one per route).
Each app gets its own ``Limiter``, kept in ``app.extensions["rate_limiter"]``:
Flask-Limiter keeps its
storage, its limits and its "storage is down" state on the extension object, so one
object shared by several apps in a process (tests, an app and a CLI) would mix
their counters and their Redis.

If Redis cannot be reached the limiter counts in memory (per process) until Redis
answers again, so an outage never turns requests into errors.
"""

import ipaddress
import math
import time
from collections.abc import Iterable
from typing import Any

from flask import Blueprint, Flask, current_app, request
from flask_limiter import Limit, Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address
from redis.backoff import NoBackoff
from redis.retry import Retry
from werkzeug.wrappers import Response as BaseResponse

from .problems import Problem, problem_response

EXTENSION = "rate_limiter"
# Rate limit counters live under REDIS_KEY_PREFIX + this.
KEY_SPACE = "ratelimit"
# Shared by every route, so a client has one count, not one per route.
SCOPE = "all-routes"


# An IPv6 client usually holds a whole /64 (RFC 6177): count it as one client.
IPV6_CLIENT_PREFIX = 64


def client_key() -> str:
    """The client's address; an IPv6 one as its /64, a mapped IPv4 one as IPv4."""
    address = get_remote_address()
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if parsed.version == 6:
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        network = ipaddress.IPv6Network((parsed, IPV6_CLIENT_PREFIX), strict=False)
        return str(network)
    return str(parsed)


def _storage_uri(redis_url: str) -> str:
    """limits spells a Redis unix socket redis+unix:// (redis-py: unix://)."""
    if redis_url.startswith("unix://"):
        return "redis+" + redis_url
    return redis_url


def _is_preflight() -> bool:
    """CORS preflights touch no store and browsers send them on their own."""
    return request.method == "OPTIONS"


def init_app(app: Flask, exempt: Iterable[Blueprint] = ()) -> Limiter | None:
    """Limit every route of ``app`` but those of the ``exempt`` blueprints."""
    default = app.config["RATELIMIT_DEFAULT"]
    if not default:
        return None
    config = app.config
    storage_options: dict[str, Any] = {
        "key_prefix": config["REDIS_KEY_PREFIX"] + KEY_SPACE,
        "socket_connect_timeout": config["REDIS_SOCKET_CONNECT_TIMEOUT"],
        "socket_timeout": config["REDIS_SOCKET_TIMEOUT"],
        "retry": Retry(NoBackoff(), 1),
    }
    limiter = Limiter(
        client_key,
        default_limits=[Limit(default, scope=SCOPE, shared=True)],
        storage_uri=_storage_uri(config["REDIS_URL"]),
        storage_options=storage_options,
        swallow_errors=True,
        in_memory_fallback_enabled=True,
    )
    for blueprint in exempt:
        limiter.exempt(blueprint)
    limiter.request_filter(_is_preflight)
    limiter.init_app(app)
    app.extensions[EXTENSION] = limiter
    app.register_error_handler(RateLimitExceeded, too_many_requests)
    return limiter


def _seconds_to_wait(error: RateLimitExceeded) -> int:
    """Until the client's window resets; the whole window if that is unknown."""
    limiter = current_app.extensions[EXTENSION]
    try:
        reset = limiter.current_limit.window.reset_time
        return max(1, math.ceil(reset - time.time()))
    except Exception:  # Redis went away between the count and now.
        return error.limit.limit.get_expiry()


def too_many_requests(error: RateLimitExceeded) -> BaseResponse:
    wait = _seconds_to_wait(error)
    return problem_response(
        Problem(
            429,
            f"Rate limit exceeded ({error.description}); retry in {wait} seconds.",
            headers={"Retry-After": str(wait)},
        )
    )
