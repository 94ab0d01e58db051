"""Bearer tokens for writes: reads are public, writes need a configured token."""

import hmac
from collections.abc import Iterable
from typing import Any

from flask import current_app, request
from werkzeug.exceptions import Unauthorized

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class MissingToken(Unauthorized):
    description = "This write needs 'Authorization: Bearer <token>' with a valid token."

    def get_headers(
        self, environ: Any = None, scope: Any = None
    ) -> list[tuple[str, str]]:
        return [("WWW-Authenticate", "Bearer")]


def _token_is_valid(token: str, tokens: Iterable[str]) -> bool:
    supplied = token.encode("utf-8", "surrogateescape")
    valid = False
    for candidate in tokens:  # no early exit: every token costs the same time
        valid |= hmac.compare_digest(supplied, candidate.encode("utf-8"))
    return valid


def require_token_for_writes() -> None:
    """401 for a write without a valid token; every feature's views of writes
    (WRITE_METHODS) call it first.

    Configured tokens always win: AUTH_DISABLED only lets production start without
    any (myapp.settings), it never opens writes while tokens are set.
    """
    tokens = current_app.config["API_TOKENS"]
    if not tokens:
        return
    supplied = request.environ.get("HTTP_AUTHORIZATION", "")
    scheme, _, token = supplied.partition(" ")
    if scheme.lower() != "bearer" or not _token_is_valid(token.strip(), tokens):
        raise MissingToken()
