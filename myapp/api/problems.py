"""Every 4xx and 5xx as application/problem+json (RFC 9457), from one place.

Views raise werkzeug HTTP exceptions (or the subclasses below); the handlers
registered here turn them, store outages and unexpected errors into problem bodies.
"""

import logging
import uuid

import redis
import sqlalchemy.exc
from flask import current_app, json
from werkzeug.exceptions import (
    BadRequest,
    Conflict,
    HTTPException,
    InternalServerError,
    ServiceUnavailable,
    UnprocessableEntity,
)
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.wrappers import Response

PROBLEM_MIMETYPE = "application/problem+json"

log = logging.getLogger(__name__)


# A body can fail in as many ways as it has members: listing them all would make
# a 1 MiB request a response several times larger (the contract's cap).
MAX_ERRORS = 100


class ValidationFailed(BadRequest):
    """A body that fails its schema: one ``errors`` entry per failure, up to
    MAX_ERRORS of them; ``omitted`` counts the rest."""

    def __init__(self, errors, description="The request body is not valid."):
        self.omitted = max(0, len(errors) - MAX_ERRORS)
        if self.omitted:
            description += (
                f" {len(errors)} errors were found: the first {MAX_ERRORS} are"
                f" listed, {self.omitted} more are not."
            )
        super().__init__(description)
        self.errors = errors[:MAX_ERRORS]


class FieldConflict(Conflict):
    """A write the store refused for a field's value (a duplicate unique value)."""

    def __init__(self, errors, description):
        super().__init__(description)
        self.errors = errors


class MissingReference(UnprocessableEntity):
    """A reference field naming a record that does not exist."""

    def __init__(self, errors, description="A referenced record does not exist."):
        super().__init__(description)
        self.errors = errors


class StoreUnavailable(ServiceUnavailable):
    """The store behind a resource cannot be reached; clients should retry."""

    description = "The data store is unreachable; retry later."


def problem_response(status, detail, headers=None, **members):
    """A problem+json response; ``title`` is the status phrase (type about:blank)."""
    body = {
        "type": "about:blank",
        "title": HTTP_STATUS_CODES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    body.update(members)
    response = Response(
        json.dumps(body), status=status, mimetype=PROBLEM_MIMETYPE, headers=headers
    )
    return response


def _retry_after():
    return str(current_app.config["STORE_RETRY_AFTER"])


def handle_http_exception(error):
    if error.code is None or error.code < 400:
        return error
    if error.code >= 500 and not isinstance(error, ServiceUnavailable):
        return handle_unexpected(error)
    headers = [
        (name, value)
        for name, value in error.get_headers()
        if name.lower() != "content-type"
    ]
    members = {}
    if isinstance(error, (ValidationFailed, FieldConflict, MissingReference)):
        members["errors"] = error.errors
        if error.omitted:
            members["errors_omitted"] = error.omitted
    if isinstance(error, ServiceUnavailable):
        members.update(getattr(error, "members", {}))
        if not any(name.lower() == "retry-after" for name, _ in headers):
            headers.append(("Retry-After", _retry_after()))
    return problem_response(error.code, error.description, headers, **members)


def handle_store_outage(error):
    log.warning("store unavailable: %s: %s", type(error).__name__, error)
    return handle_http_exception(StoreUnavailable())


class StoreRefusesWrites(StoreUnavailable):
    """Redis answers but takes no writes: out of memory, a failed snapshot, a
    read-only replica. Reads still work; writes may, later."""

    description = "The data store refuses writes at the moment; retry later."


# Error replies of a Redis that refuses writes for now (redis-py raises its
# OutOfMemoryError and ReadOnlyError for the first and last; MISCONF has no class).
REDIS_REFUSALS = ("OOM ", "MISCONF ", "READONLY ")


def handle_redis_error(error):
    """A refusal to write is a 503 (Retry-After); any other error reply a 500."""
    refused = isinstance(
        error, (redis.exceptions.OutOfMemoryError, redis.exceptions.ReadOnlyError)
    ) or str(error).startswith(REDIS_REFUSALS)
    if not refused:
        return handle_unexpected(error)
    log.warning("store refuses writes: %s: %s", type(error).__name__, error)
    return handle_http_exception(StoreRefusesWrites())


def handle_unexpected(error):
    """500 with an error id, logged with the traceback; nothing internal leaks."""
    error_id = uuid.uuid4().hex
    original = getattr(error, "original_exception", None) or error
    log.error("unhandled error %s", error_id, exc_info=original)
    return problem_response(
        500,
        f"An unexpected error occurred; quote error id {error_id} when reporting it.",
        error_id=error_id,
    )


def register_error_handlers(app):
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(redis.exceptions.ConnectionError, handle_store_outage)
    app.register_error_handler(redis.exceptions.TimeoutError, handle_store_outage)
    app.register_error_handler(redis.exceptions.ResponseError, handle_redis_error)
    app.register_error_handler(sqlalchemy.exc.OperationalError, handle_store_outage)
    app.register_error_handler(sqlalchemy.exc.InterfaceError, handle_store_outage)
    app.register_error_handler(sqlalchemy.exc.TimeoutError, handle_store_outage)
    app.register_error_handler(InternalServerError, handle_unexpected)
    app.register_error_handler(Exception, handle_unexpected)
