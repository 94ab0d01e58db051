"""The service's Flask: URL adapters bound once per host, not once per request.

For every request Flask binds the URL map to the request's environ: it parses
and checks the Host header (``TRUSTED_HOSTS``), reads the server's address,
lowercases and IDNA-encodes the name, and only then makes the adapter that
matches the path (about 600 Python bytecodes, a tenth of a Redis GET's request).
All of that depends on a handful of environ values that are the same request
after request, so it is worked out by Flask and Werkzeug themselves once per
distinct value (a bounded cache: clients choose their Host header) and each
request gets a new adapter for its own path, method and query.

Likewise Flask asks, each time it calls a view or a hook, whether it is a
coroutine function (about 90 bytecodes a request): the answer is kept per function.

Werkzeug matches each path against the URL map rule by rule (about 400
bytecodes, 34,000 machine instructions of a 689,000 create). A path of a rule
without variables (``/v1/bar/``, ``/health``) always matches that same rule, so
its match is kept; paths with an id in them are matched as before, after a
look-up (2,000 instructions).

And clients authenticate with bearer tokens, so the service keeps no cookie
session, even if a SECRET_KEY is set: Flask would look for the key and make a
session for every request (9,600 machine instructions of a 459,000 GET).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

from flask import Flask, Request
from flask.sessions import NullSession, SessionInterface
from werkzeug.routing import Map, MapAdapter, Rule

# What the host, scheme and server name of an adapter are made of.
HOST_KEYS = (
    "wsgi.url_scheme",
    "HTTP_HOST",
    "SERVER_NAME",
    "SERVER_PORT",
    "HTTP_CONNECTION",
    "HTTP_UPGRADE",
)
# What the adapter of each request reads from its own environ.
PATH_KEYS = ("SCRIPT_NAME", "PATH_INFO", "QUERY_STRING")
# Distinct hosts remembered; any others are bound as Flask binds them.
HOST_BINDINGS = 256
# Views and hooks whose kind (coroutine or not) is remembered: a few dozen.
SYNC_FUNCTIONS = 256
# Matches of rules without variables remembered: one per rule and method is a
# few dozen; the bound holds even if domains (chosen by clients) were matched.
STATIC_MATCHES = 1024


def _wsgi_string(value: str | None) -> str | None:
    """What Werkzeug's bind_to_environ reads: a WSGI (latin-1) string as UTF-8."""
    if value is None or value.isascii():
        return value
    return value.encode("latin1").decode(errors="replace")


class NoSessions(SessionInterface):
    """No cookie sessions: every request shares Flask's null session (empty, it
    refuses writes), and no response sets a cookie."""

    null_session = NullSession()

    def open_session(self, app: Flask, request: Request) -> NullSession:
        return self.null_session

    def save_session(self, app: Flask, session: object, response: object) -> None:
        """Never called: Flask saves no null session."""


class RequestAdapter(MapAdapter):
    """A request's adapter that keeps the matches of rules without variables.

    A match depends only on the path, method, domain part and websocket flag
    Werkzeug reads from the adapter, and on the URL map, which Flask lets no one
    change once requests are served. Only a match that returns is kept: a
    redirect, 404 or 405 is raised by Werkzeug every time.
    """

    map: StaticMatchingMap

    def match(
        self,
        path_info: str | None = None,
        method: str | None = None,
        return_rule: bool = False,
        query_args: Any = None,
        websocket: bool | None = None,
    ) -> tuple[Any, Mapping[str, Any]]:
        if path_info is not None or method is not None or websocket is not None:
            # return_rule is a bool here, where the overloads take literals.
            return super().match(  # type: ignore[call-overload]
                path_info, method, return_rule, query_args, websocket
            )
        kept = self.map.static_matches.get(self.path_info)
        rule = kept.get(self._context()) if kept is not None else None
        if rule is not None:
            values: Mapping[str, Any] = {}
        else:
            rule, values = super().match(return_rule=True, query_args=query_args)
            if not rule.arguments:  # no variables, and no defaults either
                self.map.keep(self.path_info, self._context(), rule)
        return (rule if return_rule else rule.endpoint), values

    def _context(self) -> tuple[str, str | None, bool]:
        """What a match reads besides the path: method, domain part, websocket."""
        domain = self.server_name if self.map.host_matching else self.subdomain
        return self.default_method, domain, self.websocket


class StaticMatchingMap(Map):
    """The URL map, with the matches its request adapters keep: by path, then
    by the rest of what the match read."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.static_matches: dict[str, dict[tuple, Rule]] = {}
        self._kept = 0

    def keep(self, path: str, context: tuple, rule: Rule) -> None:
        if self._kept < STATIC_MATCHES:
            self.static_matches.setdefault(path, {})[context] = rule
            self._kept += 1


class App(Flask):
    """Flask, whose request URL adapter reuses the host part of the last ones
    and the matches of rules without variables, which knows its views and hooks
    once, and which keeps no cookie session."""

    url_map_class = StaticMatchingMap

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.session_interface = NoSessions()
        self._bind_host = functools.lru_cache(maxsize=HOST_BINDINGS)(self._host)
        self._sync = functools.lru_cache(maxsize=SYNC_FUNCTIONS)(super().ensure_sync)

    def ensure_sync(self, func: Callable) -> Callable:
        """Flask's own answer, once per function: Flask asks inspect whether the
        view or hook is a coroutine function each time it calls one."""
        return self._sync(func)

    def _host(
        self, values: tuple[str | None, ...], server_name: str | None, trusted: tuple
    ) -> tuple[str, MapAdapter]:
        """The request's checked host and an adapter bound by Flask to an environ
        of ``values`` alone; raises as Flask would for a host it refuses.

        ``server_name`` and ``trusted`` (SERVER_NAME, TRUSTED_HOSTS) are read by
        Flask from the config; they are arguments so that a binding is
        remembered for the configuration it was made under.
        """
        environ = {
            name: value
            for name, value in zip(HOST_KEYS, values, strict=True)
            if value is not None
        }
        environ["REQUEST_METHOD"] = "GET"
        probe = self.request_class(environ)
        adapter = super().create_url_adapter(probe)
        assert adapter is not None
        return probe.host, adapter

    def create_url_adapter(self, request: Request | None) -> MapAdapter | None:
        if request is None:
            return super().create_url_adapter(request)
        config = self.config
        trusted_hosts = config["TRUSTED_HOSTS"]
        if trusted_hosts is not None:
            request.trusted_hosts = trusted_hosts
        environ = request.environ
        host, bound = self._bind_host(
            tuple(map(environ.get, HOST_KEYS)),
            config["SERVER_NAME"],
            tuple(trusted_hosts or ()),
        )
        request.host = host
        script_name, path_info, query = map(_wsgi_string, map(environ.get, PATH_KEYS))
        return RequestAdapter(
            self.url_map,
            bound.server_name,
            script_name or "/",
            bound.subdomain,
            bound.url_scheme,
            path_info or "/",
            environ["REQUEST_METHOD"],
            query,
        )
