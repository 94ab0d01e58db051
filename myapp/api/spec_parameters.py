"""The parameters and response headers the features' specs share, declared once."""

from typing import Any

from .fields import INT64_MAX, INT64_MIN
from .idempotency import KEY_PATTERN, MAX_KEY_LENGTH, REPLAYED_HEADER
from .paging import DEFAULT_LIMIT, MAX_LIMIT, MAX_OFFSET, OFFSET_WINDOW


def spec_parameter(
    location: str, kind: str, description: str, **bounds: Any
) -> dict[str, Any]:
    return {"in": location, "type": kind, "description": description, **bounds}


LIST_PARAMS = {
    "limit": spec_parameter(
        "query",
        "integer",
        "Items per page.",
        minimum=1,
        maximum=MAX_LIMIT,
        default=DEFAULT_LIMIT,
    ),
    "offset": spec_parameter(
        "query",
        "integer",
        f"Items to skip (offset pages; none when absent): offset + limit at most"
        f" {OFFSET_WINDOW}; beyond, follow next_cursor. Never with cursor, so it"
        " has no default a client would send.",
        minimum=0,
        maximum=MAX_OFFSET,
    ),
    "cursor": spec_parameter(
        "query",
        "string",
        "A next_cursor from a page of this collection: the page after it, in the"
        " sort and with the filters it was made with (sent again, they must be the"
        " same). Not with offset.",
        minLength=1,
    ),
}


# How each kind of field is documented as a query parameter (Swagger 2.0 types).
FILTER_TYPES: dict[str | None, dict[str, Any]] = {
    "string": {"type": "string"},
    "enum": {"type": "string"},
    "boolean": {"type": "boolean"},
    # What the filter parser takes: any 64-bit integer, whatever the field's bounds.
    "integer": {
        "type": "integer",
        "format": "int64",
        "minimum": INT64_MIN,
        "maximum": INT64_MAX,
    },
    "number": {"type": "number"},
    "date": {"type": "string", "format": "date"},
    "date-time": {"type": "string", "format": "date-time"},
}


RANGE_WORDS = {"gt": "after", "gte": "from", "lt": "before", "lte": "up to"}


IF_MATCH = spec_parameter(
    "header",
    "string",
    "`*` or a list of strong ETags: apply only if one is current, else 412"
    " (compared strongly: a W/ tag never matches).",
)


IF_NONE_MATCH_READ = spec_parameter(
    "header",
    "string",
    "`*` or a list of ETags: 304 with no body if one is current (weak comparison).",
)


IF_NONE_MATCH_WRITE = spec_parameter(
    "header",
    "string",
    "`*` or a list of ETags: apply only if none is current, else 412.",
)


IDEMPOTENCY_KEY = spec_parameter(
    "header",
    "string",
    "Makes a retry safe: a repeat with the same key and body (same token, within"
    " 24 h) gets the first response again and creates nothing; another body is"
    " 422, a repeat while the first runs is 409. 1 to 255 printable ASCII"
    " characters, e.g. a UUID.",
    minLength=1,
    maxLength=MAX_KEY_LENGTH,
    pattern=KEY_PATTERN,
)


def _header(
    description: str, required: bool = True, kind: str = "string", **schema: Any
) -> dict[str, Any]:
    """A response header; ``x-required`` makes schemathesis insist on it."""
    header = {"type": kind, "description": description, **schema}
    if required:
        header["x-required"] = True
    return header


ETAG = {
    "ETag": _header(
        "Strong entity tag of this representation (for If-Match/If-None-Match).",
        pattern='^"[!#-~]*"$',
    )
}


LOCATION = {"Location": _header("Path of the new resource.", pattern="^/")}


LINK = {
    "Link": _header(
        'RFC 8288 links: rel="next" is the cursor link (whenever next_cursor is'
        ' not null), rel="prev" the offset link on offset pages past the first.',
        required=False,
    )
}


# Every response has it (security_headers.py), so every response documents it.
REQUEST_ID = {
    "X-Request-ID": _header(
        "The request's id: the client's own if it sent a sane one, else a new one.",
        pattern="^[A-Za-z0-9._:@/+=-]{1,128}$",
    )
}


RETRY_AFTER = {
    "Retry-After": _header(
        "Seconds to wait before retrying.", kind="integer", minimum=0
    )
}


REPLAYED = {
    REPLAYED_HEADER: _header(
        "`true` when this is the stored response to an earlier request with the"
        " same Idempotency-Key (nothing was created this time).",
        required=False,
        enum=["true"],
    )
}


RETRY_AFTER_IF_IN_FLIGHT = {
    "Retry-After": _header(
        "Seconds to wait before retrying (a request still being processed).",
        required=False,
        kind="integer",
        minimum=0,
    )
}


WWW_AUTHENTICATE = {
    "WWW-Authenticate": _header("The scheme to use: Bearer.", pattern="^Bearer")
}


IDEMPOTENCY_IN_FLIGHT = (
    "A request with this Idempotency-Key is still being processed (Retry-After)"
)


IDEMPOTENCY_REUSED = "This Idempotency-Key was used with a different body or path"
