"""What every store-backed model shares, whatever the store: the declaration.

A feature's model declares its writable fields once, as JSON Schema properties
(``fields``), with ``required`` and ``unique`` naming some of them; the read,
write and patch schemas, the validator, the sorts and filters and the canonical
values are derived here, the columns by the SQL store.
"""

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from . import fields as field_types
from .schemas import DRAFT_07, TIMESTAMP, SchemaValidator
from .values import encode

SCHEMA_BASE = "https://myapp.example/schemas"
# Every declared model, by resource name (tests and the scaffold look them up).
MODELS: dict[str, type["StoredModel"]] = {}


def _title(resource: str) -> str:
    return "".join(part.capitalize() for part in resource.split("_"))


def _a(words: str) -> str:
    return ("an " if words[0] in "aeiou" else "a ") + words


class StoredModel:
    """Base of SQL and Redis models: the declaration and what derives from it.

    A subclass sets ``resource`` (its name: table, Redis kind, schema ids),
    ``fields`` (name -> JSON Schema), ``required`` and ``unique``; the store base
    classes provide ``id_schema`` and get / page / create / update / delete.
    """

    fields: Mapping[str, Mapping[str, Any]] | None = None
    required: tuple[str, ...] = ()
    unique: tuple[str, ...] = ()
    id_schema: dict[str, Any] | None = None
    # Whether the store sorts and filters lists by the declared fields (SQL).
    lists_by_fields = False

    # Set on every declared model (by __init_subclass__); the undeclared bases
    # hold None, which nothing reads: mypy checks the models that serve.
    if TYPE_CHECKING:
        resource: str
        read_schema: dict[str, Any]
        write_schema: dict[str, Any]
        patch_schema: dict[str, Any]
    else:
        resource = None
        read_schema = None
        write_schema = None
        patch_schema = None
    declared: ClassVar[tuple[field_types.Field, ...]]
    by_name: ClassVar[dict[str, field_types.Field]]
    validator: ClassVar[SchemaValidator]
    writable: tuple[str, ...] = ()
    sortable: tuple[str, ...] = ()
    filterable: tuple[str, ...] = ()
    # Field name -> the filter operators it takes ("eq", "gt", "gte", "lt", "lte").
    filters: dict[str, tuple[str, ...]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        fields = cls.__dict__.get("fields")
        if fields is None:
            return
        cls.declared = field_types.declare(fields, cls.required, cls.unique)
        MODELS[cls.resource] = cls
        cls.by_name = {field.name: field for field in cls.declared}
        cls.writable = tuple(cls.by_name)
        cls._derive_schemas()
        cls.validator = SchemaValidator(
            cls.write_schema,
            read_only=set(cls.read_schema["properties"]) - set(cls.writable),
        )
        if cls.lists_by_fields:
            indexed = [field.name for field in cls.declared if field.indexed]
            cls.sortable = ("id", *indexed, "created_at")
            cls.filters = {
                field.name: field.operators for field in cls.declared if field.operators
            }
            cls.filterable = tuple(cls.filters)

    @classmethod
    def _derive_schemas(cls) -> None:
        title, words = _title(cls.resource), cls.resource.replace("_", " ")
        properties = {field.name: field.schema for field in cls.declared}
        required = [field.name for field in cls.declared if field.required]
        cls.write_schema = {
            "$schema": DRAFT_07,
            "$id": f"{SCHEMA_BASE}/{cls.resource}-write.json",
            "title": f"{title} Write",
            "description": f"The fields a client sets on {_a(words)}",
            "type": "object",
            "properties": properties,
            "additionalProperties": False,
            "required": required,
        }
        cls.patch_schema = {
            key: value for key, value in cls.write_schema.items() if key != "required"
        }
        cls.patch_schema["title"] = f"{title} Write (merge patch)"
        # id and the timestamps are set by the service, so they are not writable.
        cls.read_schema = {
            "$schema": DRAFT_07,
            "$id": f"{SCHEMA_BASE}/{cls.resource}.json",
            "title": title,
            "description": f"Representation of {_a(words)}",
            "type": "object",
            "properties": {
                "id": cls.id_schema,
                **properties,
                "created_at": TIMESTAMP,
                "updated_at": TIMESTAMP,
            },
            "additionalProperties": False,
            "required": ["id", *required, "created_at", "updated_at"],
        }

    @classmethod
    def canonical(cls, document: Mapping[str, Any]) -> dict[str, Any]:
        """A valid write document's fields in canonical JSON form (null dropped)."""
        return {
            field.name: field.json_value(document[field.name])
            for field in cls.declared
            if document.get(field.name) is not None
        }

    @classmethod
    def unstorable_characters(cls) -> str:
        """Characters the current app's store cannot hold in text (docs list them)."""
        return ""

    def as_json(self) -> dict[str, Any]:
        raise NotImplementedError

    def as_bytes(self) -> bytes:
        return encode(self.as_json())

    @classmethod
    def items_bytes(cls, records: Sequence["StoredModel"]) -> bytes:
        """A page's records as one JSON array, encoded at once (the same bytes as
        each record's, joined, in half the time)."""
        return encode([record.as_json() for record in records])

    def writable_part(self) -> dict[str, Any]:
        """The current values of the writable fields: the base of a merge patch."""
        current = self.as_json()
        return {name: current[name] for name in self.writable if name in current}
