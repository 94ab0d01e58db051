"""Reading JSON request bodies: media type, size, syntax, shape, merge patch."""

import json

from flask import request
from werkzeug.exceptions import BadRequest, UnsupportedMediaType

JSON = "application/json"
MERGE_PATCH = "application/merge-patch+json"


def _reject_constant(name):
    raise ValueError(f"{name} is not valid JSON")


def json_object(accepted=(JSON,)):
    """The request body as a JSON object, or a 415/413/400 problem.

    The body is read only after its declared length passed MAX_CONTENT_LENGTH, so an
    oversized body is refused (413) without being read.
    """
    if request.mimetype not in accepted:
        raise UnsupportedMediaType(
            f"Send the body as {' or '.join(accepted)}"
            f" (got {request.mimetype or 'no Content-Type'})."
        )
    raw = request.get_data(cache=True)
    try:
        document = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise BadRequest("The body is not valid UTF-8 JSON.") from None
    if not isinstance(document, dict):
        raise BadRequest("The body must be a JSON object.")
    return document


def merge_patch(target, patch):
    """Apply a JSON Merge Patch (RFC 7396) to ``target``, returning a new document."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for name, value in patch.items():
        if value is None:
            result.pop(name, None)
        else:
            result[name] = merge_patch(result.get(name), value)
    return result
