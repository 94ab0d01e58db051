"""Declared fields: each one JSON Schema property, and what its type implies.

A feature declares its writable fields once (``fields``, ``required``, ``unique``
on its model). ``declare`` checks each declaration, completes it with the bounds
every store needs (64-bit integers, 32-bit reference ids) and returns ``Field``
objects, from which the schemas, the SQL columns, the filters and sorts, the
canonical JSON values and the contract tests are derived.
"""

import math
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from collections.abc import Callable, Mapping
from typing import Any

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
# References hold the id of an SQL feature: an INTEGER column, as ids are.
MAX_ID = 2**31 - 1
# The longest string a field may sort and filter by: its index must fit MySQL's
# 3072-byte key limit in utf8mb4 (4 bytes a character) with the id beside it.
MAX_INDEXED_LENGTH = 700

REFERENCES = "x-references"
RANGES = ("gt", "gte", "lt", "lte")

_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_DATE_TIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})"
    r"(?:\.([0-9]+))?(?:([Zz])|([+-])([0-9]{2}):([0-9]{2}))"
)
_FIELD_NAME = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")
# Set by the service on every record, or a list's own query parameters: never a
# declared field's name.
RESERVED_NAMES = frozenset(
    {"id", "created_at", "updated_at", "version", "limit", "offset", "sort", "cursor"}
)
# Constraint and index names (ix_<table>_<field>) must fit 63 characters.
MAX_NAME_LENGTH = 30


class DeclarationError(TypeError):
    """A model's field declaration the service cannot serve (a programming error)."""


def parse_date(text: str) -> date:
    """``YYYY-MM-DD`` as a date; ValueError otherwise (no other ISO 8601 form)."""
    if not isinstance(text, str) or not _DATE.fullmatch(text):
        raise ValueError("not a YYYY-MM-DD date")
    return date.fromisoformat(text)


def parse_date_time(text: str) -> datetime:
    """An RFC 3339 date-time (any offset) as a naive UTC datetime; ValueError else.

    Fractions beyond microseconds are cut (never rounded into the next second);
    a leap second (:60) cannot be held by any store and is refused.
    """
    match = _DATE_TIME.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError("not an RFC 3339 date-time")
    year, month, day, hour, minute, second, fraction = match.groups()[:7]
    sign, offset_hours, offset_minutes = match.groups()[8:]
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    moment = datetime(
        int(year), int(month), int(day), int(hour), int(minute), int(second), micro
    )
    if sign is not None:
        if int(offset_hours) > 23 or int(offset_minutes) > 59:
            raise ValueError("offset out of range")
        offset = timedelta(hours=int(offset_hours), minutes=int(offset_minutes))
        moment -= offset if sign == "+" else -offset
    return moment


def rfc3339(moment: datetime) -> str:
    """A naive-UTC or aware datetime as an RFC 3339 UTC string with microseconds."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    # Positional arguments: a third faster than keywords, on every record served.
    return moment.isoformat("T", "microseconds") + "Z"


def _parses(parse: Callable[[str], object]) -> Callable[[object], bool]:
    """A format check: a string must parse; other types the type keyword reports."""

    def check(value: object) -> bool:
        if not isinstance(value, str):
            return True
        try:
            parse(value)
        except (ValueError, OverflowError):
            return False
        return True

    return check


FORMAT_CHECKS = {"date": _parses(parse_date), "date-time": _parses(parse_date_time)}


def exact_float(value: Any) -> float | None:
    """``value`` as the IEEE double it stands for, or None if none holds it exactly.

    JSON numbers are stored as doubles (on every store), so a number a double
    cannot hold (2**53 + 1, 1e400) would not come back as sent: it is refused.
    """
    try:
        result = float(value)
    except OverflowError:
        return None
    if not math.isfinite(result):
        return None
    if isinstance(value, int) and int(result) != value:
        return None
    return result


@dataclass(frozen=True)
class Field:
    """One declared field: its name, completed schema and what follows from them."""

    name: str
    schema: dict
    kind: str
    required: bool = False
    unique: bool = False

    @property
    def references(self) -> str | None:
        """The SQL feature (table) whose id a reference field holds."""
        return self.schema.get(REFERENCES)

    @property
    def indexed(self) -> bool:
        """Sorted and filtered by (SQL): every field but arrays and long text."""
        if self.kind == "array":
            return False
        return self.kind != "string" or self.schema["maxLength"] <= MAX_INDEXED_LENGTH

    @property
    def operators(self) -> tuple:
        """The filter operators of the contract's table: ``eq`` and/or ranges."""
        if not self.indexed:
            return ()
        if self.kind == "number":
            return RANGES
        if self.kind in ("integer", "date", "date-time"):
            return ("eq",) + RANGES
        return ("eq",)

    def json_value(self, value: Any) -> Any:
        """A valid value in its canonical JSON form: what is stored and returned."""
        if self.kind == "date-time":
            return rfc3339(parse_date_time(value))
        if self.kind in ("integer", "reference"):
            return int(value)
        if self.kind == "number":
            return float(value)
        return value

    def store_value(self, value: Any) -> Any:
        """A valid value as a SQL column holds it (dates and times as objects)."""
        if self.kind == "date-time":
            return parse_date_time(value)
        if self.kind == "date":
            return parse_date(value)
        return self.json_value(value)


def _kind(name: str, schema: Mapping[str, Any]) -> str:
    kind = schema.get("type")
    if kind == "string":
        if "enum" in schema:
            values = schema["enum"]
            if not values or not all(isinstance(v, str) and v for v in values):
                raise DeclarationError(f"{name}: enum needs non-empty strings")
            return "enum"
        if schema.get("format") in ("date", "date-time"):
            return schema["format"]
        if "format" in schema:
            raise DeclarationError(f"{name}: format {schema['format']!r} unknown")
        if not isinstance(schema.get("maxLength"), int) or schema["maxLength"] < 1:
            raise DeclarationError(f"{name}: a string needs maxLength (>= 1)")
        return "string"
    if kind == "integer":
        return "reference" if REFERENCES in schema else "integer"
    if kind in ("number", "boolean"):
        return kind
    if kind == "array":
        items = schema.get("items", {})
        if items.get("type") != "string" or not isinstance(items.get("maxLength"), int):
            raise DeclarationError(
                f"{name}: array items must be strings with maxLength"
            )
        if not isinstance(schema.get("maxItems"), int):
            raise DeclarationError(f"{name}: an array needs maxItems")
        return "array"
    raise DeclarationError(f"{name}: type {kind!r} is not a field type")


def _completed(name: str, schema: Mapping[str, Any], kind: str) -> dict:
    """The schema with the bounds the stores impose, checked against them."""
    schema = dict(schema)
    if kind == "integer":
        schema.setdefault("minimum", INT64_MIN)
        schema.setdefault("maximum", INT64_MAX)
        if not INT64_MIN <= schema["minimum"] <= schema["maximum"] <= INT64_MAX:
            raise DeclarationError(f"{name}: integer bounds must be within 64 bits")
    if kind == "reference":
        if not _FIELD_NAME.fullmatch(schema[REFERENCES]) or not name.endswith("_id"):
            raise DeclarationError(f"{name}: a reference is <name>_id to a feature")
        schema.update(minimum=1, maximum=MAX_ID)
    if kind == "number":
        for bound in ("minimum", "maximum"):
            if bound in schema and exact_float(schema[bound]) is None:
                raise DeclarationError(f"{name}: {bound} must be a finite number")
    return schema


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a field, or None."""
    if not _FIELD_NAME.fullmatch(name):
        return "use lower-case snake case"
    if len(name) > MAX_NAME_LENGTH:
        return f"use at most {MAX_NAME_LENGTH} characters"
    if name in RESERVED_NAMES:
        return "the service uses it"
    return None


def declare(
    fields: Mapping[str, Mapping[str, Any]],
    required: tuple[str, ...] = (),
    unique: tuple[str, ...] = (),
) -> tuple[Field, ...]:
    """The checked, completed declaration; DeclarationError names what is wrong."""
    for listed, what in ((required, "required"), (unique, "unique")):
        unknown = set(listed) - set(fields)
        if unknown:
            raise DeclarationError(f"{what} names undeclared {sorted(unknown)}")
    declared = []
    for name, schema in fields.items():
        problem = name_problem(name)
        if problem:
            raise DeclarationError(f"{name!r} cannot be a field name: {problem}")
        kind = _kind(name, schema)
        field = Field(
            name,
            _completed(name, schema, kind),
            kind,
            required=name in required,
            unique=name in unique,
        )
        if field.unique and not field.indexed:
            raise DeclarationError(f"{name}: only a sortable field can be unique")
        declared.append(field)
    return tuple(declared)
