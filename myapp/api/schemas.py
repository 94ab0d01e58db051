"""JSON Schema as the single source of truth: validation, docs and shared pieces."""

from collections.abc import Iterable
from typing import Any

import jsonschema_rs
from jsonschema import Draft7Validator, FormatChecker, ValidationError

from .fields import FORMAT_CHECKS, REFERENCES, exact_float
from .problems import ValidationFailed

DRAFT_07 = "http://json-schema.org/draft-07/schema#"

TIMESTAMP = {
    "type": "string",
    "format": "date-time",
    "description": "RFC 3339 date-time in UTC, set by the service.",
}

PROBLEM = {
    "title": "Problem",
    "description": "An error, as application/problem+json (RFC 9457).",
    "type": "object",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "error_id": {
            "type": "string",
            "description": "With a 500: the id under which the error was logged.",
        },
        "errors": {
            "type": "array",
            "description": "With a validation failure: one entry per failure,"
            " the first 100 of them.",
            "maxItems": 100,
            "items": {
                "type": "object",
                "properties": {
                    "path": {
                        "type": "string",
                        "description": "JSON Pointer to the offending member.",
                    },
                    "message": {"type": "string"},
                },
                "required": ["path", "message"],
            },
        },
        "errors_omitted": {
            "type": "integer",
            "minimum": 1,
            "description": "With more than 100 failures: how many are not listed.",
        },
        "checks": {
            "type": "object",
            "description": "With /ready: the state of each backing store.",
            "additionalProperties": {"type": "string"},
        },
    },
    "required": ["type", "title", "status", "detail"],
}

# Keywords a Swagger 2.0 Schema Object accepts; draft-07 extras ($schema, $id,
# const, ...) would make the spec invalid, so they are left out of the docs.
_SWAGGER_KEYWORDS = {
    "$ref",
    "format",
    "title",
    "description",
    "default",
    "multipleOf",
    "maximum",
    "exclusiveMaximum",
    "minimum",
    "exclusiveMinimum",
    "maxLength",
    "minLength",
    "pattern",
    "maxItems",
    "minItems",
    "uniqueItems",
    "maxProperties",
    "minProperties",
    "required",
    "enum",
    "type",
    "items",
    "allOf",
    "properties",
    "additionalProperties",
    "readOnly",
    "example",
}


def swagger_schema(schema: Any) -> Any:
    """The part of a JSON Schema (draft-07) that Swagger 2.0 can document."""
    if not isinstance(schema, dict):
        return schema
    result: dict[str, Any] = {}
    for key, value in schema.items():
        if key not in _SWAGGER_KEYWORDS and not key.startswith("x-"):
            continue
        if key == "properties":
            value = {name: swagger_schema(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties"):
            value = swagger_schema(value)
        elif key == "allOf":
            value = [swagger_schema(sub) for sub in value]
        elif key == "type" and isinstance(value, list) and "null" in value:
            # Swagger 2.0 has no null type: one type, and its nullable extension.
            (value,) = [kind for kind in value if kind != "null"]
            result["x-nullable"] = True
        result[key] = value
    return result


def list_schema(item_schema: dict[str, Any], title: str) -> dict[str, Any]:
    """The page of items every collection GET returns (offset pages add ``offset``)."""
    return {
        "$schema": DRAFT_07,
        "title": title,
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": item_schema},
            "total": {
                "type": "integer",
                "minimum": 0,
                "maximum": 10000,
                "description": "Records matching the filters, counted up to 10000.",
            },
            "total_exact": {
                "type": "boolean",
                "description": "False when more than 10000 records match.",
            },
            "limit": {"type": "integer", "minimum": 1, "maximum": 100},
            "offset": {
                "type": "integer",
                "minimum": 0,
                "description": "On offset pages only.",
            },
            "next_cursor": {
                "type": ["string", "null"],
                "description": "Send as ?cursor= for the page after this one;"
                " null when no record follows.",
            },
        },
        "additionalProperties": False,
        "required": ["items", "total", "total_exact", "limit", "next_cursor"],
    }


def _pointer(parts: Iterable[str | int]) -> str:
    return "".join(
        "/" + str(part).replace("~", "~0").replace("/", "~1") for part in parts
    )


def _format_checker() -> FormatChecker:
    """Only the formats fields declare, checked strictly (RFC 3339, YYYY-MM-DD)."""
    checker = FormatChecker(formats=())
    for name, check in FORMAT_CHECKS.items():
        checker.checks(name)(check)
    return checker


FORMAT_MESSAGES = {
    "date": "must be a date as YYYY-MM-DD",
    "date-time": "must be an RFC 3339 date-time with an offset (e.g. Z or +02:00)",
}


def _has_lone_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


# The keywords whose meaning jsonschema-rs and jsonschema share exactly (every one
# a field declares but ``pattern``: Rust's regular expressions are not Python's).
_QUICK_KEYWORDS = frozenset(
    {
        "$schema",
        "$id",
        "title",
        "description",
        "type",
        "properties",
        "additionalProperties",
        "required",
        "minLength",
        "maxLength",
        "minimum",
        "maximum",
        "enum",
        "format",
        "items",
        "maxItems",
        REFERENCES,
    }
)


def _quick_validator(schema: dict[str, Any]) -> Any:
    """jsonschema-rs's compiled check of ``schema``, with our format checks; None
    when the schema uses a keyword outside _QUICK_KEYWORDS."""
    if not _uses_only(schema, _QUICK_KEYWORDS):
        return None
    return jsonschema_rs.validator_for(
        schema, formats=FORMAT_CHECKS, validate_formats=True
    )


def _uses_only(schema: Any, keywords: frozenset[str]) -> bool:
    if not isinstance(schema, dict):
        return True
    for key, value in schema.items():
        if key not in keywords:
            return False
        if key == "properties" and not all(
            _uses_only(member, keywords) for member in value.values()
        ):
            return False
        if key in ("items", "additionalProperties") and not _uses_only(value, keywords):
            return False
    return True


class SchemaValidator:
    """A write schema compiled once; ``validate`` reports every failure.

    A valid document, the usual case, is known valid in a microsecond by
    jsonschema-rs (compiled Rust) rather than in ten or more by jsonschema; any
    other is checked again by jsonschema, which decides and words the errors. So
    the quick check can only say yes where jsonschema says yes too, and is used
    only for the keywords both read alike (test_schemas.py holds them to that).
    """

    def __init__(self, schema: dict[str, Any], read_only: Iterable[str] = ()) -> None:
        Draft7Validator.check_schema(schema)
        self.validator = Draft7Validator(schema, format_checker=_format_checker())
        self.quick = _quick_validator(schema)
        self.read_only = set(read_only)
        self.numbers = [
            name
            for name, member in schema.get("properties", {}).items()
            if member.get("type") == "number"
        ]

    def errors(self, document: Any) -> list[dict[str, str]]:
        if self._quickly_valid(document):
            # What JSON Schema cannot say: every store must hold the values as sent.
            found = self._unencodable(document, []) + self._inexact_numbers(document)
            if not found:
                return []
        return self._every_error(document)

    def _quickly_valid(self, document: Any) -> bool:
        if self.quick is None:
            return False
        try:
            return bool(self.quick.is_valid(document))
        except ValueError:  # a value JSON has no form for (e.g. a non-string key)
            return False

    def _every_error(self, document: Any) -> list[dict[str, str]]:
        found: list[dict[str, str]] = []
        for error in self.validator.iter_errors(document):
            found.extend(self._describe(error))
        found.extend(self._unencodable(document, []))
        found.extend(self._inexact_numbers(document))
        # One entry per failure: jsonschema reports "required" once per missing
        # member, each naming them all.
        unique = {(entry["path"], entry["message"]): entry for entry in found}
        return [unique[key] for key in sorted(unique)]

    def _inexact_numbers(self, document: Any) -> list[dict[str, str]]:
        """Numbers are stored as doubles: a number no double holds would change."""
        if not isinstance(document, dict):
            return []
        return [
            {
                "path": _pointer([name]),
                "message": "must be a finite number that a 64-bit float holds exactly",
            }
            for name in self.numbers
            if isinstance(document.get(name), (int, float))
            and not isinstance(document[name], bool)
            and exact_float(document[name]) is None
        ]

    def validate(self, document: Any) -> None:
        errors = self.errors(document)
        if errors:
            raise ValidationFailed(errors)

    def _describe(self, error: ValidationError) -> list[dict[str, str]]:
        path = list(error.absolute_path)
        kind, expected = error.validator, error.validator_value
        if kind == "required":
            missing = [name for name in expected if name not in error.instance]
            return [
                {"path": _pointer(path + [name]), "message": "is required"}
                for name in missing
            ]
        if kind == "additionalProperties" and isinstance(error.instance, dict):
            allowed = set(error.schema.get("properties", {}))
            extras = [name for name in error.instance if name not in allowed]
            return [
                {
                    "path": _pointer(path + [name]),
                    "message": (
                        "is read-only"
                        if name in self.read_only
                        else "is not an allowed property"
                    ),
                }
                for name in extras
            ]
        if kind == "format" and expected in FORMAT_MESSAGES:
            return [{"path": _pointer(path), "message": FORMAT_MESSAGES[expected]}]
        if kind == "enum" and isinstance(expected, list):
            listed = ", ".join(map(str, expected))
            return [{"path": _pointer(path), "message": f"must be one of {listed}"}]
        messages = {
            "type": f"must be of type {expected}",
            "minLength": f"must be at least {expected} character(s) long",
            "maxLength": f"must be at most {expected} characters long",
            "minimum": f"must be at least {expected}",
            "maximum": f"must be at most {expected}",
            "minItems": f"must have at least {expected} item(s)",
            "maxItems": f"must have at most {expected} items",
        }
        message = messages.get(kind) or error.message[:200]
        return [{"path": _pointer(path), "message": message}]

    def _unencodable(self, value: Any, path: list[str | int]) -> list[dict[str, str]]:
        """Unpaired surrogates parse from JSON, but no store can hold them."""
        if isinstance(value, str):
            if _has_lone_surrogate(value):
                return [
                    {
                        "path": _pointer(path),
                        "message": "must be valid Unicode (no unpaired surrogates)",
                    }
                ]
            return []
        if isinstance(value, dict):
            found = []
            for key, item in value.items():
                found.extend(self._unencodable(item, path + [key]))
            return found
        if isinstance(value, list):
            found = []
            for index, item in enumerate(value):
                found.extend(self._unencodable(item, path + [index]))
            return found
        return []
