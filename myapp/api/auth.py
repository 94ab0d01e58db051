"""Bearer tokens for writes: reads are public, writes need a configured token."""

import hmac

from flask import current_app, request
from werkzeug.exceptions import Unauthorized

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class ConfigError(RuntimeError):
    """The configuration cannot run safely; the message says what to set."""


class MissingToken(Unauthorized):
    description = "This write needs 'Authorization: Bearer <token>' with a valid token."

    def get_headers(self, environ=None, scope=None):
        return [("WWW-Authenticate", "Bearer")]


def check_config(app, env):
    """Production without tokens would let anyone write: refuse to start."""
    if env == "production" and not app.config["API_TOKENS"]:
        if not app.config["AUTH_DISABLED"]:
            raise ConfigError(
                "No API tokens configured: set MYAPP_API_TOKENS=<token>[,<token>...]"
                " (or MYAPP_AUTH_DISABLED=true to accept anonymous writes;"
                " MYAPP_ENV=development to work locally)."
            )


def _token_is_valid(token, tokens):
    supplied = token.encode("utf-8", "surrogateescape")
    valid = False
    for candidate in tokens:  # no early exit: every token costs the same time
        valid |= hmac.compare_digest(supplied, candidate.encode("utf-8"))
    return valid


def require_token_for_writes():
    """A before_request hook for feature blueprints; a no-op when auth is off."""
    if request.method not in WRITE_METHODS:
        return
    config = current_app.config
    if config["AUTH_DISABLED"] or not config["API_TOKENS"]:
        return
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not _token_is_valid(
        token.strip(), config["API_TOKENS"]
    ):
        raise MissingToken()
