"""Reading JSON request bodies: media type, size, syntax, shape, merge patch."""

import json
from typing import Any

from flask import Request, request
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge, UnsupportedMediaType

JSON = "application/json"
MERGE_PATCH = "application/merge-patch+json"

# Deeper documents are refused before any schema sees them: validators, merge
# patch and error messages recurse, and Python's stack is not a limit to rely on.
MAX_DEPTH = 32


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


# json.loads would make a decoder for each call that passes parse_constant.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def _depth(document: Any) -> int:
    """How deeply arrays and objects nest in ``document`` (iteratively)."""
    deepest, pending = 0, [(document, 1)]
    while pending:
        value, level = pending.pop()
        if isinstance(value, dict):
            value = list(value.values())
        elif not isinstance(value, list):
            continue
        deepest = max(deepest, level)
        pending.extend((item, level + 1) for item in value)
    return deepest


def _body(current: Request) -> bytes:
    """The body, or 413 when it is larger than MAX_CONTENT_LENGTH.

    A declared Content-Length over the limit is refused before anything is read. A
    body of undeclared length (chunked) is read up to the limit, where Werkzeug stops
    without a word; one more byte from the server's stream tells whether it was cut.
    """
    raw = current.get_data(cache=True)
    environ = current.environ
    if current.content_length is None and environ.get("wsgi.input_terminated"):
        limit = current.max_content_length
        if limit is not None and len(raw) >= limit and environ["wsgi.input"].read(1):
            raise RequestEntityTooLarge()
    return raw


def json_object(accepted: tuple[str, ...] = (JSON,)) -> dict[str, Any]:
    """The request body as a JSON object, or a 415/413/400 problem."""
    current = request._get_current_object()  # type: ignore[attr-defined]
    if current.mimetype not in accepted:
        raise UnsupportedMediaType(
            f"Send the body as {' or '.join(accepted)}"
            f" (got {current.mimetype or 'no Content-Type'})."
        )
    raw = _body(current)
    too_deep = f"The body nests arrays or objects more than {MAX_DEPTH} levels deep."
    try:
        document = _DECODER.decode(raw.decode("utf-8"))
    except RecursionError:
        raise BadRequest(too_deep) from None
    except (UnicodeDecodeError, ValueError):
        raise BadRequest("The body is not valid UTF-8 JSON.") from None
    if not isinstance(document, dict):
        raise BadRequest("The body must be a JSON object.")
    # Each array or object opens with a bracket: fewer brackets, no walk needed.
    brackets = raw.count(b"{") + raw.count(b"[")
    if brackets > MAX_DEPTH and _depth(document) > MAX_DEPTH:
        raise BadRequest(too_deep)
    return document


def merge_patch(target: Any, patch: Any) -> Any:
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
