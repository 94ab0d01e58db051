"""Collection queries and RFC 8288 Link headers, for any model.

What a client may ask of a collection (``limit``, ``offset`` or ``cursor``,
``sort``, filters) is read here, generically over the model's declared fields:
each filter value is typed from the field's JSON Schema (type, format, enum), so a
value that does not parse is a 400 naming the parameter, and a store only ever
binds typed values.

Cursors are keyset positions (the values of the order's keys in the last record
of a page), signed with itsdangerous so a client cannot forge or alter one, and
bound to the resource, sort and filters they were made with.
"""

import hashlib
import json
import math
import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlencode

from flask import current_app, request
from itsdangerous import BadData, Signer
from itsdangerous.encoding import base64_decode, base64_encode
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import BadRequest

from .fields import parse_date, parse_date_time

if TYPE_CHECKING:
    from .model import StoredModel

    Model = type[StoredModel]

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
# Offset pages end here (offset + limit); deeper, clients follow next_cursor.
OFFSET_WINDOW = 10_000
MAX_OFFSET = OFFSET_WINDOW - 1
# Totals are counted exactly up to this many matching records, then bounded.
TOTAL_BOUND = 10_000
# No cursor the service makes comes near this; longer ones are not even decoded.
MAX_CURSOR_LENGTH = 2048
RANGE_OPERATORS = ("gt", "gte", "lt", "lte")

_DIGITS = re.compile(r"[0-9]+")
_INTEGER = re.compile(r"-?[0-9]{1,19}")
_NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_PARAMETER = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?:\[([^\]]*)\])?")
_INT64 = 2**63
_JSON = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"))


@dataclass(frozen=True)
class SortKey:
    name: str
    descending: bool = False


@dataclass(frozen=True)
class Filter:
    """``name`` compared by ``operator`` (eq, gt, gte, lt, lte) with a typed value."""

    name: str
    operator: str
    value: object
    raw: str

    @property
    def parameter(self) -> str:
        return self.name if self.operator == "eq" else f"{self.name}[{self.operator}]"


@dataclass(frozen=True)
class PageQuery:
    """One page: ``offset`` pages have an offset, cursor pages an ``after``.

    ``sort`` is empty for the store's default order (oldest first); ``after``
    holds the position of the last record already served, as the store gave it.
    """

    limit: int = DEFAULT_LIMIT
    offset: int | None = 0
    sort: tuple = ()
    filters: tuple = ()
    after: tuple | None = None


@dataclass(frozen=True)
class Page:
    """What a store answers: the records, a bounded count, where the next starts.

    ``counted`` is the number of matching records, counted up to TOTAL_BOUND + 1;
    ``next_position`` is the last record's position when more records follow.
    """

    records: list
    counted: int
    next_position: tuple | None

    @property
    def total(self) -> int:
        return min(self.counted, TOTAL_BOUND)

    @property
    def total_exact(self) -> bool:
        return self.counted <= TOTAL_BOUND


def _single(args: MultiDict[str, str], name: str) -> str | None:
    values = args.getlist(name)
    if len(values) > 1:
        raise BadRequest(f"'{name}' is given more than once.")
    return values[0] if values else None


def _integer(
    args: MultiDict[str, str], name: str, default: int, minimum: int, maximum: int
) -> int:
    raw = _single(args, name)
    if raw is None:
        return default
    if not _DIGITS.fullmatch(raw):
        raise BadRequest(f"'{name}' must be a whole number.")
    # Never parse a huge number: anything longer than the bound is out of range.
    value = int(raw) if len(raw) <= len(str(maximum)) else maximum + 1
    if value < minimum or value > maximum:
        raise BadRequest(f"'{name}' must be from {minimum} to {maximum}.")
    return value


def _sort(model: "Model", raw: str) -> tuple[SortKey, ...]:
    """``a,-b`` as SortKeys; every key a sortable field, none twice."""
    if not model.sortable:
        raise BadRequest(
            f"'sort' is not supported here: {_resource(model)} lists in creation"
            " order only."
        )
    keys: list[SortKey] = []
    for item in raw.split(","):
        name = item[1:] if item.startswith("-") else item
        if name not in model.sortable:
            options = ", ".join(model.sortable)
            raise BadRequest(
                f"'sort' must be a comma-separated list of {options}, each"
                " optionally prefixed with '-'."
            )
        if any(key.name == name for key in keys):
            raise BadRequest(f"'sort' names {name} more than once.")
        keys.append(SortKey(name, item.startswith("-")))
    return tuple(keys)


def field_kind(schema: dict[str, Any]) -> str | None:
    """How a field filters: string, enum, boolean, integer, number, date, date-time.

    Returns None for a field that cannot be filtered (arrays, objects).
    """
    kind = schema.get("type")
    if kind == "string":
        if "enum" in schema:
            return "enum"
        if schema.get("format") in ("date", "date-time"):
            return schema["format"]
        return "string"
    if kind in ("boolean", "integer", "number"):
        return kind
    return None


RANGE_KINDS = ("integer", "number", "date", "date-time")
EXACT_KINDS = ("string", "enum", "boolean", "integer", "date", "date-time")


def filter_operators(model: "Model", name: str) -> tuple:
    """The operators a filterable field takes: its declaration's, else its type's.

    ``eq`` on every kind but numbers, ranges on integer, number, date and date-time
    (a reference, an integer, is declared with ``eq`` only).
    """
    declared = model.filters.get(name)
    if declared is not None:
        return tuple(declared)
    kind = field_kind(model.read_schema["properties"][name])
    exact = ("eq",) if kind in EXACT_KINDS else ()
    return exact + (RANGE_OPERATORS if kind in RANGE_KINDS else ())


def parse_value(schema: dict[str, Any], raw: str) -> Any:
    """``raw`` as the field's type, or ValueError saying what was expected."""
    kind = field_kind(schema)
    if kind == "string":
        return raw
    if kind == "enum":
        if raw not in schema["enum"]:
            raise ValueError(f"one of {', '.join(map(str, schema['enum']))}")
        return raw
    if kind == "boolean":
        if raw not in ("true", "false"):
            raise ValueError("true or false")
        return raw == "true"
    if kind == "integer":
        if not _INTEGER.fullmatch(raw) or not -_INT64 <= int(raw) < _INT64:
            raise ValueError("a whole number within 64 bits")
        return int(raw)
    if kind == "number":
        if not _NUMBER.fullmatch(raw) or not math.isfinite(float(raw)):
            raise ValueError("a number")
        return float(raw)
    if kind == "date":
        try:
            return parse_date(raw)
        except (ValueError, OverflowError):
            raise ValueError("a date, YYYY-MM-DD") from None
    if kind == "date-time":
        try:
            return parse_date_time(raw)
        except (ValueError, OverflowError):
            raise ValueError(
                "an RFC 3339 date-time, e.g. 2026-01-31T12:00:00Z"
            ) from None
    raise ValueError("a value of a field that can be filtered")


def _filters(model: "Model", args: MultiDict[str, str]) -> tuple[Filter, ...]:
    """The filters in the query string; other parameters are left alone."""
    properties = model.read_schema["properties"]
    found = []
    for parameter in args:
        match = _PARAMETER.fullmatch(parameter)
        if not match or match.group(1) not in model.filterable:
            continue
        name, operator = match.group(1), match.group(2)
        operators = filter_operators(model, name)
        if operator is None:
            operator = "eq"
            if operator not in operators:
                ranges = ", ".join(f"{name}[{op}]" for op in operators)
                raise BadRequest(f"'{name}' filters by range only: {ranges}.")
        elif operator not in RANGE_OPERATORS:
            raise BadRequest(
                f"'{parameter}': the operators are {', '.join(RANGE_OPERATORS)}."
            )
        elif operator not in operators:
            raise BadRequest(f"'{parameter}': {name} filters by exact match only.")
        raw = cast(str, _single(args, parameter))  # the parameter is there
        try:
            value = parse_value(properties[name], raw)
        except ValueError as error:
            raise BadRequest(f"'{parameter}' must be {error}.") from None
        found.append(Filter(name, operator, value, raw))
    return tuple(sorted(found, key=lambda f: (f.name, f.operator)))


def _resource(model: "Model") -> str:
    return model.resource


def _signer() -> Signer:
    """The app's cursor signer (itsdangerous, HMAC-SHA256), made once per app.

    Its key is CURSOR_SECRET when set. Otherwise it is derived from what every
    app server of one deploy shares already (the store URLs and key prefix, see
    README "Running more than one server"), so a cursor made by one server is
    good on the next and production needs no extra setting. A cursor only names
    a position in records anyone may list; the signature keeps clients from
    making positions up, and a changed key merely ends the cursors in flight.
    """
    signer = current_app.extensions.get("cursor_signer")
    if signer is None:
        config = current_app.config
        secret = config.get("CURSOR_SECRET")
        if not secret:
            shared = "\0".join(
                str(config[name])
                for name in ("SQLALCHEMY_DATABASE_URI", "REDIS_URL", "REDIS_KEY_PREFIX")
            )
            secret = hashlib.sha256(f"myapp cursors\0{shared}".encode()).hexdigest()
        signer = Signer(secret, salt="myapp.cursor", digest_method=hashlib.sha256)
        current_app.extensions["cursor_signer"] = signer
    return signer


def _position_to_json(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def make_cursor(model: "Model", query: PageQuery, position: tuple) -> str:
    """The opaque cursor for the page after ``position`` in this sort and filters."""
    payload = {
        "r": _resource(model),
        "s": [[key.name, key.descending] for key in query.sort],
        "f": [[f.name, f.operator, f.raw] for f in query.filters],
        "p": [_position_to_json(value) for value in position],
    }
    # Compact JSON in URL-safe base64, then its signature: small, and cheap to make.
    return _signer().sign(base64_encode(_JSON.encode(payload))).decode()


def _read_cursor(model: "Model", raw: str) -> dict[str, Any]:
    """The payload of a cursor this service made for this resource, or a 400."""
    if not raw:
        raise BadRequest("'cursor' is empty: send a next_cursor as it was given.")
    if len(raw) > MAX_CURSOR_LENGTH:
        raise BadRequest("'cursor' is not a cursor this service made.")
    try:
        payload = json.loads(base64_decode(_signer().unsign(raw)))
    except (BadData, ValueError):
        raise BadRequest("'cursor' is not a cursor this service made.") from None
    if not isinstance(payload, dict) or payload.get("r") != _resource(model):
        raise BadRequest("'cursor' was made for another resource.")
    return payload


def page_query(model: Any) -> PageQuery:
    """The page a client asked for, or a 400 naming the bad parameter."""
    args = request.args
    limit = _integer(args, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    raw_sort = _single(args, "sort")
    sort = _sort(model, raw_sort) if raw_sort is not None else ()
    filters = _filters(model, args) if model.filterable else ()
    raw_cursor = _single(args, "cursor")
    if raw_cursor is None:
        offset = _integer(args, "offset", 0, 0, MAX_OFFSET)
        if offset + limit > OFFSET_WINDOW:
            raise BadRequest(
                f"'offset' + 'limit' must be at most {OFFSET_WINDOW}: to read"
                ' further, follow next_cursor (the Link rel="next").'
            )
        return PageQuery(limit, offset, sort, filters)
    if "offset" in args:
        raise BadRequest("'cursor' and 'offset' cannot be used together.")
    payload = _read_cursor(model, raw_cursor)
    try:
        made_with = PageQuery(
            limit,
            None,
            tuple(SortKey(name, bool(descending)) for name, descending in payload["s"]),
            tuple(
                Filter(
                    name,
                    operator,
                    parse_value(model.read_schema["properties"][name], raw),
                    raw,
                )
                for name, operator, raw in payload["f"]
            ),
        )
        after = model.position_from_json(made_with.sort, payload["p"])
    except (KeyError, TypeError, ValueError):
        # Signed by this service, but for fields or a format it no longer has.
        raise BadRequest("'cursor' is no longer valid: start from the first page.")
    if raw_sort is not None and sort != made_with.sort:
        raise BadRequest("'cursor' was made with another sort.")
    if filters and _comparable(filters) != _comparable(made_with.filters):
        raise BadRequest("'cursor' was made with other filters.")
    return PageQuery(limit, None, made_with.sort, made_with.filters, after)


def _comparable(filters: tuple[Filter, ...]) -> list[tuple[str, str, object]]:
    return [(f.name, f.operator, f.value) for f in filters]


def next_cursor(model: "Model", query: PageQuery, page: Page) -> str | None:
    if page.next_position is None:
        return None
    return make_cursor(model, query, page.next_position)


def link_header(query: PageQuery, cursor: str | None) -> str | None:
    """``next`` (the cursor link) and, on offset pages past the first, ``prev``.

    Their paths keep the mount point (SCRIPT_NAME), as Location does.
    """
    path = request.script_root + request.path
    links = []
    args: list[tuple[str, object]]
    if cursor is not None:
        args = [
            (k, v)
            for k, v in request.args.items(multi=True)
            if k not in ("offset", "cursor", "limit")
        ]
        args += [("cursor", cursor), ("limit", str(query.limit))]
        links.append(f'<{path}?{urlencode(args)}>; rel="next"')
    if query.offset:
        args = [(k, v) for k, v in request.args.items(multi=True) if k != "offset"]
        if "limit" not in request.args:
            args.append(("limit", str(query.limit)))
        args.append(("offset", max(query.offset - query.limit, 0)))
        links.append(f'<{path}?{urlencode(args)}>; rel="prev"')
    return ", ".join(links) or None
