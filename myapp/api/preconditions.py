"""Entity tags and conditional requests (RFC 9110 section 13).

Request headers are read from the WSGI environ, as request.headers would look
them up ("If-Match" is HTTP_IF_MATCH), without its work on every GET.
"""

import hashlib
import re

from flask import request
from werkzeug.exceptions import PreconditionFailed

_ENTITY_TAG = re.compile(r'\s*(W/)?("[\x21\x23-\x7e\x80-\xff]*")\s*(?:,|$)')


def etag_for(body: bytes) -> str:
    """A strong ETag: a digest of the exact representation bytes."""
    return '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'


def _parse(header: str) -> str | list[tuple[bool, str]]:
    """``*`` or a list of (weak, opaque-tag); a malformed list matches nothing."""
    header = header.strip()
    if header == "*":
        return "*"
    tags, position = [], 0
    while position < len(header):
        match = _ENTITY_TAG.match(header, position)
        if not match or match.end() == position:
            return []
        tags.append((bool(match.group(1)), match.group(2)))
        position = match.end()
    return tags


def _matches(header: str, current: str, weak: bool) -> bool:
    tags = _parse(header)
    if isinstance(tags, str):
        return True
    return any(tag == current and (weak or not is_weak) for is_weak, tag in tags)


def _not_modified(if_none_match: str | None, current: str) -> bool:
    """True when a GET's If-None-Match matches (weak comparison): answer 304."""
    return if_none_match is not None and _matches(if_none_match, current, weak=True)


def check_write(current: str) -> None:
    """412 unless the write's preconditions hold for the resource's current ETag.

    If-Match compares strongly (a W/ tag never matches); If-None-Match on a write
    fails when it matches.
    """
    if_match = request.environ.get("HTTP_IF_MATCH")
    if if_match is not None and not _matches(if_match, current, weak=False):
        raise PreconditionFailed(
            "If-Match does not match the current ETag; fetch the resource again."
        )
    if_none_match = request.environ.get("HTTP_IF_NONE_MATCH")
    if if_none_match is not None and _matches(if_none_match, current, weak=True):
        raise PreconditionFailed("If-None-Match matches the current ETag.")


def check_read(current: str) -> bool:
    """For a GET: 412 when If-Match fails, True when the client's copy is current."""
    environ = request.environ
    if_match = environ.get("HTTP_IF_MATCH")
    if if_match is not None and not _matches(if_match, current, weak=False):
        raise PreconditionFailed("If-Match does not match the current ETag.")
    return _not_modified(environ.get("HTTP_IF_NONE_MATCH"), current)
