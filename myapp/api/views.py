"""The behaviour of the CRUD operations, for any model built on StoredModel.

A feature's Resource methods are one-line calls into here; what differs between
features (schemas, store, sort and filter fields) comes from the model.
"""

import functools
from collections.abc import Callable, Iterable, Mapping
from typing import Any, cast
from urllib.parse import quote

from flask import Response, request
from werkzeug.datastructures import Headers
from werkzeug.exceptions import NotFound
from werkzeug.wrappers import Response as BaseResponse

from . import bodies, idempotency, paging, preconditions
from .problems import StoreUnavailable, ValidationFailed
from .values import encode

JSON_MIMETYPE = "application/json"

# A write that keeps losing compare-and-set races gives up with a 503 after this.
WRITE_ATTEMPTS = 20

# What werkzeug's iri_to_uri leaves unquoted in a path (besides letters, digits
# and "_.-~"): a Location made with it is the URI werkzeug would have sent.
PATH_SAFE = "%!$&'()*+,/:;=@"


class CompleteResponse(Response):
    """A response whose headers are final as made: Content-Length given, any
    Location a URI already, a status that keeps both.

    werkzeug copies a response's headers to send them and scans the copy to fix
    those three things; for what json_response makes there is nothing to fix.
    """

    def get_wsgi_headers(self, environ: Any) -> Headers:
        return self.headers

    def get_app_iter(self, environ: Any) -> Iterable[bytes]:
        """The body list as made. werkzeug wraps every body in a generator (to
        encode text) and a closing iterator (to call close() when sent); a list
        of bytes with a body to send needs neither. Any other case (a close
        callback, HEAD, a status without a body) is werkzeug's to answer."""
        status = self.status_code
        if (
            self._on_close
            or environ["REQUEST_METHOD"] == "HEAD"
            or status < 200
            or status in (204, 304)
        ):
            return super().get_app_iter(environ)
        return cast(list[bytes], self.response)  # json_response's


def json_response(
    body: bytes, status: int = 200, headers: Mapping[str, str] | None = None
) -> BaseResponse:
    """``body`` with its headers, given to werkzeug at once and sent as given (a
    ``Location`` among them must be a URI already: see _collection_uri).

    Given the body, werkzeug would set Content-Type and then Content-Length one
    after the other, each a search and a check of the header list; the same
    headers in one list are checked once.
    """
    listed = [("Content-Type", JSON_MIMETYPE), ("Content-Length", str(len(body)))]
    if headers:
        listed.extend(headers.items())
    response = CompleteResponse(status=status, headers=Headers(listed))
    response.response = [body]
    return response


@functools.lru_cache(maxsize=64)
def _collection_uri(script_root: str, path: str) -> str:
    """A collection's path as a URI (a few per app): a new record's Location is
    this and its id, which the store made (an integer, hex digits)."""
    return quote(f"{script_root}{path}", PATH_SAFE)


def empty_response(
    status: int, headers: Mapping[str, str] | None = None
) -> BaseResponse:
    """204 and 304 carry no body, and so no Content-Type either."""
    response = Response(status=status, headers=headers)
    del response.headers["Content-Type"]
    return response


def _found(model: Any, id: int) -> Any:
    record = model.get(id)
    if record is None:
        raise NotFound(f"No {model.__name__.removesuffix('Model').lower()} {id}.")
    return record


def list_records(model: Any) -> BaseResponse:
    """A page of a collection: offset pages keep ``offset``, cursor pages have none."""
    query = paging.page_query(model)
    page = model.page(query)
    cursor = paging.next_cursor(model, query, page)
    body = b'{"items":%s,"total":%d,"total_exact":%s,"limit":%d,%s"next_cursor":%s}' % (
        model.items_bytes(page.records),
        page.total,
        b"true" if page.total_exact else b"false",
        query.limit,
        b"" if query.offset is None else b'"offset":%d,' % query.offset,
        b"null" if cursor is None else encode(cursor),
    )
    link = paging.link_header(query, cursor)
    return json_response(body, headers={"Link": link} if link else None)


def create(model: Any) -> BaseResponse:
    """201 with the new record; a repeat with the same Idempotency-Key replays it."""
    return idempotency.once(lambda: _create(model))


def _create(model: Any) -> BaseResponse:
    document = bodies.json_object()
    model.validator.validate(document)
    record = model.create(document)
    body = record.as_bytes()
    headers = {
        "Location": f"{_collection_uri(request.script_root, request.path)}{record.id}",
        "ETag": preconditions.etag_for(body),
    }
    return json_response(body, 201, headers)


def get(model: Any, id: int) -> BaseResponse:
    record = _found(model, id)
    body = record.as_bytes()
    etag = preconditions.etag_for(body)
    if preconditions.check_read(etag):
        return empty_response(304, {"ETag": etag})
    return json_response(body, headers={"ETag": etag})


def replace(model: Any, id: int) -> BaseResponse:
    document = bodies.json_object()
    model.validator.validate(document)
    return _write(model, id, lambda record: document)


def patch(model: Any, id: int) -> BaseResponse:
    patch_document = bodies.json_object((bodies.MERGE_PATCH, bodies.JSON))
    # Members that are not writable are refused even as null, as the spec says.
    unknown = [name for name in patch_document if name not in model.writable]
    if unknown:
        raise ValidationFailed(
            [
                {"path": f"/{n}", "message": "is not a writable property"}
                for n in unknown
            ]
        )

    def merged(record: Any) -> dict[str, Any]:
        document = bodies.merge_patch(record.writable_part(), patch_document)
        model.validator.validate(document)
        return document

    return _write(model, id, merged)


def _write(
    model: Any, id: int, new_document: Callable[[Any], dict[str, Any]]
) -> BaseResponse:
    def put(record: Any) -> BaseResponse | None:
        updated = record.update(new_document(record))
        if updated is None:
            return None
        body = updated.as_bytes()
        return json_response(body, headers={"ETag": preconditions.etag_for(body)})

    return _compare_and_set(model, id, put)


def delete(model: Any, id: int) -> BaseResponse:
    return _compare_and_set(
        model, id, lambda record: empty_response(204) if record.delete() else None
    )


def _compare_and_set(
    model: Any, id: int, write: Callable[[Any], BaseResponse | None]
) -> BaseResponse:
    """Read, check preconditions, write; re-read when another write won.

    ``write`` answers the response, or None when the record changed under it.
    """
    for _ in range(WRITE_ATTEMPTS):
        record = _found(model, id)
        preconditions.check_write(preconditions.etag_for(record.as_bytes()))
        response = write(record)
        if response is not None:
            return response
    raise StoreUnavailable("Too many concurrent writes to this resource; retry.")
