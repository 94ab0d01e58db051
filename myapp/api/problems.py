"""Every 4xx and 5xx as application/problem+json (RFC 9457), from one place.

Views raise werkzeug HTTP exceptions or a ``Problem`` (any status, headers and
extra members, which its subclasses below fill in); the handlers
registered here turn them, store outages and unexpected errors into problem bodies.
"""

import logging
from collections.abc import Mapping
from typing import Any

import redis
import sqlalchemy.exc
from flask import Flask, current_app, json
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.wrappers import Response

from .ids import uuid4_hex

PROBLEM_MIMETYPE = "application/problem+json"

log = logging.getLogger(__name__)


# A body can fail in as many ways as it has members: listing them all would make
# a 1 MiB request a response several times larger (the contract's cap).
MAX_ERRORS = 100


class Problem(HTTPException):
    """An error answered as problem+json: its status, its detail, the headers it
    needs and any extra members of the body (as apiflask's ``HTTPError``)."""

    def __init__(
        self,
        status: int,
        detail: str,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.code = status
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})

    def get_headers(self, environ: Any = None, scope: Any = None) -> list:
        return list(self.headers.items())


class ErrorsProblem(Problem):
    """A problem that lists what is wrong, member by member: ``errors``, up to
    MAX_ERRORS of them; ``errors_omitted`` counts the rest."""

    def __init__(self, status: int, errors: list[dict[str, str]], detail: str) -> None:
        omitted = max(0, len(errors) - MAX_ERRORS)
        extra: dict[str, Any] = {"errors": errors[:MAX_ERRORS]}
        if omitted:
            detail += (
                f" {len(errors)} errors were found: the first {MAX_ERRORS} are"
                f" listed, {omitted} more are not."
            )
            extra["errors_omitted"] = omitted
        super().__init__(status, detail, extra=extra)


class ValidationFailed(ErrorsProblem):
    """A body that fails its schema."""

    def __init__(
        self,
        errors: list[dict[str, str]],
        description: str = "The request body is not valid.",
    ) -> None:
        super().__init__(400, errors, description)


class FieldConflict(ErrorsProblem):
    """A write the store refused for a field's value (a duplicate unique value)."""

    def __init__(self, errors: list[dict[str, str]], description: str) -> None:
        super().__init__(409, errors, description)


class MissingReference(ErrorsProblem):
    """A reference field naming a record that does not exist."""

    def __init__(
        self,
        errors: list[dict[str, str]],
        description: str = "A referenced record does not exist.",
    ) -> None:
        super().__init__(422, errors, description)


class StoreUnavailable(Problem):
    """The store behind a resource cannot be reached; clients should retry."""

    def __init__(
        self, detail: str = "The data store is unreachable; retry later."
    ) -> None:
        super().__init__(503, detail)


def problem_response(error: HTTPException) -> Response:
    """The problem+json body of ``error``; ``title`` is the status phrase (type
    about:blank). A 503 says when to retry (``STORE_RETRY_AFTER`` by default)."""
    status = error.code or 500
    body = {
        "type": "about:blank",
        "title": HTTP_STATUS_CODES.get(status, "Error"),
        "status": status,
        "detail": error.description,
        **(error.extra if isinstance(error, Problem) else {}),
    }
    headers = [
        (name, value)
        for name, value in error.get_headers()
        if name.lower() != "content-type"
    ]
    if status == 503 and not any(name.lower() == "retry-after" for name, _ in headers):
        headers.append(("Retry-After", str(current_app.config["STORE_RETRY_AFTER"])))
    return Response(
        json.dumps(body), status=status, mimetype=PROBLEM_MIMETYPE, headers=headers
    )


def handle_http_exception(error: HTTPException) -> HTTPException | Response:
    if error.code is None or error.code < 400:
        return error
    if error.code >= 500 and error.code != 503:
        return handle_unexpected(error)
    return problem_response(error)


def handle_store_outage(error: Exception) -> Response:
    log.warning("store unavailable: %s: %s", type(error).__name__, error)
    return problem_response(StoreUnavailable())


class StoreRefusesWrites(StoreUnavailable):
    """Redis answers but takes no writes: out of memory, a failed snapshot, a
    read-only replica. Reads still work; writes may, later."""

    def __init__(self) -> None:
        super().__init__("The data store refuses writes at the moment; retry later.")


# Error replies of a Redis that refuses writes for now (redis-py raises its
# OutOfMemoryError and ReadOnlyError for the first and last; MISCONF has no class).
REDIS_REFUSALS = ("OOM ", "MISCONF ", "READONLY ")


def handle_redis_error(error: redis.exceptions.ResponseError) -> Response:
    """A refusal to write is a 503 (Retry-After); any other error reply a 500."""
    refused = isinstance(
        error, (redis.exceptions.OutOfMemoryError, redis.exceptions.ReadOnlyError)
    ) or str(error).startswith(REDIS_REFUSALS)
    if not refused:
        return handle_unexpected(error)
    log.warning("store refuses writes: %s: %s", type(error).__name__, error)
    return problem_response(StoreRefusesWrites())


def handle_unexpected(error: BaseException) -> Response:
    """500 with an error id, logged with the traceback; nothing internal leaks."""
    error_id = uuid4_hex()
    original = getattr(error, "original_exception", None) or error
    log.error("unhandled error %s", error_id, exc_info=original)
    return problem_response(
        Problem(
            500,
            f"An unexpected error occurred; quote error id {error_id} when reporting"
            " it.",
            extra={"error_id": error_id},
        )
    )


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(redis.exceptions.ConnectionError, handle_store_outage)
    app.register_error_handler(redis.exceptions.TimeoutError, handle_store_outage)
    app.register_error_handler(redis.exceptions.ResponseError, handle_redis_error)
    app.register_error_handler(sqlalchemy.exc.OperationalError, handle_store_outage)
    app.register_error_handler(sqlalchemy.exc.InterfaceError, handle_store_outage)
    app.register_error_handler(sqlalchemy.exc.TimeoutError, handle_store_outage)
    app.register_error_handler(InternalServerError, handle_unexpected)
    app.register_error_handler(Exception, handle_unexpected)
