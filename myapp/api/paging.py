"""Collection queries (limit, offset, sort, filters) and RFC 8288 Link headers."""

import re
from dataclasses import dataclass, field
from urllib.parse import urlencode

from flask import request
from werkzeug.exceptions import BadRequest

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
# Every store takes a 64-bit offset; 18 digits always fit.
MAX_OFFSET = 10**18 - 1
_DIGITS = re.compile(r"[0-9]+")


@dataclass(frozen=True)
class PageQuery:
    limit: int = DEFAULT_LIMIT
    offset: int = 0
    # (field, descending) or None for the store's default (oldest first)
    sort: tuple | None = None
    filters: dict = field(default_factory=dict)


def _integer(name, default, minimum, maximum):
    raw = request.args.get(name)
    if raw is None:
        return default
    if not _DIGITS.fullmatch(raw):
        raise BadRequest(f"'{name}' must be a whole number.")
    # Never parse a huge number: anything longer than the bound is out of range.
    value = int(raw) if len(raw) <= len(str(maximum)) else maximum + 1
    if value < minimum or value > maximum:
        raise BadRequest(f"'{name}' must be from {minimum} to {maximum}.")
    return value


def page_query(sortable=(), filterable=()):
    """The page a client asked for, or a 400 naming the bad parameter."""
    limit = _integer("limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    offset = _integer("offset", 0, 0, MAX_OFFSET)
    sort = None
    if sortable and "sort" in request.args:
        raw = request.args["sort"]
        name = raw[1:] if raw.startswith("-") else raw
        if name not in sortable:
            options = ", ".join(sortable)
            raise BadRequest(
                f"'sort' must be one of {options}, optionally prefixed with '-'."
            )
        sort = (name, raw.startswith("-"))
    filters = {name: request.args[name] for name in filterable if name in request.args}
    return PageQuery(limit, offset, sort, filters)


def link_header(query, total):
    """``next`` and ``prev`` links (relative references), where they exist."""
    links = []
    if query.offset + query.limit < total:
        links.append((query.offset + query.limit, "next"))
    if query.offset > 0:
        links.append((max(query.offset - query.limit, 0), "prev"))
    if not links:
        return None
    args = [(k, v) for k, v in request.args.items(multi=True) if k != "offset"]
    if "limit" not in request.args:
        args.append(("limit", str(query.limit)))
    return ", ".join(
        f'<{request.path}?{urlencode(args + [("offset", offset)])}>; rel="{rel}"'
        for offset, rel in links
    )
