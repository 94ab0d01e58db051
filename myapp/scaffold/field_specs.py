"""`flask scaffold` field specs: ``name:type[:modifier...]`` to a declaration.

Types: string, integer, number, boolean, date, datetime, enum, array, ref.
Modifiers: required, unique (SQL), max=N and min=N (length for strings, value for
numbers, items for arrays), values=a|b|c (enum), to=FEATURE (ref: the field is
then NAME_id, holding a FEATURE id).
"""

import re
from dataclasses import dataclass, field

from ..api import fields as field_types

TYPES = (
    "string",
    "integer",
    "number",
    "boolean",
    "date",
    "datetime",
    "enum",
    "array",
    "ref",
)
# What a spec leaves out: strings of up to 255 characters (as Rails), arrays of up
# to 100 strings of up to 200 characters each.
DEFAULT_MAX_LENGTH = 255
DEFAULT_MAX_ITEMS = 100
ARRAY_ITEM_MAX_LENGTH = 200
DEFAULT_FIELDS = ("name:string:required:min=1:max=120",)
_ENUM_VALUE = re.compile(r"[A-Za-z0-9_.-]+")
_INTEGER = re.compile(r"-?[0-9]+")
_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
# Which modifiers each type takes (besides required).
ALLOWED = {
    "string": {"unique", "min", "max"},
    "integer": {"unique", "min", "max"},
    "number": {"unique", "min", "max"},
    "boolean": set(),
    "date": {"unique"},
    "datetime": {"unique"},
    "enum": {"unique", "values"},
    "array": {"max"},
    "ref": {"unique", "to"},
}


class SpecError(ValueError):
    """A field spec that cannot be a field; the message says why."""


@dataclass
class Declaration:
    """What the scaffold writes into models.py: fields, required, unique."""

    fields: dict = field(default_factory=dict)
    required: list = field(default_factory=list)
    unique: list = field(default_factory=list)

    @property
    def references(self):
        return {
            name: schema[field_types.REFERENCES]
            for name, schema in self.fields.items()
            if field_types.REFERENCES in schema
        }


def _modifiers(spec, parts):
    found = {}
    for part in parts:
        key, has_value, value = part.partition("=")
        if key in found:
            raise SpecError(f"{key} is given twice")
        if key in ("required", "unique"):
            if has_value:
                raise SpecError(f"{key} takes no value")
            found[key] = True
        elif key in ("min", "max", "values", "to"):
            if not value:
                raise SpecError(f"{key} needs a value ({key}=...)")
            found[key] = value
        else:
            raise SpecError(f"unknown modifier {part!r}")
    return found


def _bound(kind, key, text):
    if kind == "number":
        if not _NUMBER.fullmatch(text):
            raise SpecError(f"{key}={text} is not a number")
        value = float(text) if re.search(r"[.eE]", text) else int(text)
        if field_types.exact_float(value) is None:
            raise SpecError(f"{key}={text} is not a finite 64-bit float")
        return value
    if not _INTEGER.fullmatch(text):
        raise SpecError(f"{key}={text} is not a whole number")
    value = int(text)
    if kind == "integer":
        if not field_types.INT64_MIN <= value <= field_types.INT64_MAX:
            raise SpecError(f"{key}={text} is not within 64 bits")
    elif value < (1 if key == "max" else 0):
        raise SpecError(f"{key}={text} is too small")
    return value


def _schema(kind, found):
    """The JSON Schema property of one spec's type and modifiers."""
    minimum = _bound(kind, "min", found["min"]) if "min" in found else None
    maximum = _bound(kind, "max", found["max"]) if "max" in found else None
    if minimum is not None and maximum is not None and minimum > maximum:
        raise SpecError("min is greater than max")
    if kind == "string":
        schema = {"type": "string"}
        if minimum is not None:
            schema["minLength"] = minimum
        schema["maxLength"] = maximum or DEFAULT_MAX_LENGTH
        if schema.get("minLength", 0) > schema["maxLength"]:
            raise SpecError("min is greater than the default max (255)")
        return schema
    if kind in ("integer", "number"):
        schema = {"type": kind}
        if minimum is not None:
            schema["minimum"] = minimum
        if maximum is not None:
            schema["maximum"] = maximum
        return schema
    if kind == "boolean":
        return {"type": "boolean"}
    if kind in ("date", "datetime"):
        return {"type": "string", "format": "date-time" if kind == "datetime" else kind}
    if kind == "enum":
        if "values" not in found:
            raise SpecError("an enum needs values=a|b|c")
        values = found["values"].split("|")
        if not all(_ENUM_VALUE.fullmatch(value) for value in values):
            raise SpecError("enum values are letters, digits, '_', '.' or '-'")
        if len(set(values)) != len(values):
            raise SpecError("an enum value is given twice")
        return {"type": "string", "enum": values}
    if kind == "array":
        return {
            "type": "array",
            "items": {"type": "string", "maxLength": ARRAY_ITEM_MAX_LENGTH},
            "maxItems": maximum or DEFAULT_MAX_ITEMS,
        }
    if "to" not in found:
        raise SpecError("a ref needs to=FEATURE")
    return {"type": "integer", field_types.REFERENCES: found["to"]}


def parse_one(spec, store, declaration):
    """Add one spec to ``declaration``; SpecError says what is wrong with it."""
    name, _, rest = spec.partition(":")
    kind, _, modifiers = rest.partition(":")
    if not kind:
        raise SpecError(f"give a type: {name}:TYPE (one of {', '.join(TYPES)})")
    if kind not in TYPES:
        raise SpecError(f"unknown type {kind!r} (one of {', '.join(TYPES)})")
    found = _modifiers(spec, modifiers.split(":") if modifiers else [])
    extra = set(found) - ALLOWED[kind] - {"required"}
    if extra:
        raise SpecError(f"{kind} takes no {', '.join(sorted(extra))}")
    if store != "sql" and ("unique" in found or kind == "ref"):
        what = "unique" if "unique" in found else "ref"
        raise SpecError(f"{what} needs --store sql (the database enforces it)")
    if kind == "ref":
        name = f"{name}_id"
    problem = field_types.name_problem(name)
    if problem:
        raise SpecError(f"{name!r} cannot be a field name: {problem}")
    if name in declaration.fields:
        raise SpecError(f"{name} is declared twice")
    schema = _schema(kind, found)
    try:
        field_types.declare(
            {name: schema},
            ("required" in found) * (name,),
            ("unique" in found) * (name,),
        )
    except field_types.DeclarationError as error:
        raise SpecError(str(error).removeprefix(f"{name}: ")) from None
    declaration.fields[name] = schema
    if found.get("required"):
        declaration.required.append(name)
    if found.get("unique"):
        declaration.unique.append(name)


def parse(specs, store):
    """Every spec as one Declaration, or SpecError (with the spec) on the first bad."""
    declaration = Declaration()
    for spec in specs or DEFAULT_FIELDS:
        try:
            parse_one(spec, store, declaration)
        except SpecError as error:
            raise SpecError(f"{spec!r}: {error}") from None
    return declaration
