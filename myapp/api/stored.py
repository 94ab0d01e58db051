"""What every store-backed model shares, whatever the store."""

import json
from datetime import datetime, timezone

from .schemas import SchemaValidator

# json.dumps with these options would build an encoder on every call.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def encode(document):
    """Compact UTF-8 JSON, exactly the bytes sent (and hashed into the ETag)."""
    return _ENCODER.encode(document).encode()


def utcnow():
    """Now, as naive UTC (what every store keeps)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def rfc3339(moment):
    """A naive-UTC or aware datetime as an RFC 3339 UTC string with microseconds."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment.isoformat(timespec="microseconds") + "Z"


class StoredModel:
    """Base of SQL and Redis models: schemas, compiled validator, representation.

    A subclass sets ``read_schema`` and ``write_schema``; the store base classes
    provide get / page / create / update / delete. Collections list oldest first
    unless sorted by one of ``sortable``; ``filterable`` fields take exact matches.
    """

    read_schema = None
    write_schema = None
    sortable = ()
    filterable = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.write_schema is None:
            return
        writable = set(cls.write_schema["properties"])
        cls.writable = tuple(cls.write_schema["properties"])
        cls.validator = SchemaValidator(
            cls.write_schema, read_only=set(cls.read_schema["properties"]) - writable
        )
        cls.patch_schema = {
            key: value for key, value in cls.write_schema.items() if key != "required"
        }
        cls.patch_schema["title"] = f"{cls.write_schema.get('title', '')} (merge patch)"

    @classmethod
    def unstorable_characters(cls):
        """Characters the current app's store cannot hold in text (docs list them)."""
        return ""

    def as_json(self):
        raise NotImplementedError

    def as_bytes(self):
        return encode(self.as_json())

    def writable_part(self):
        """The current values of the writable fields: the base of a merge patch."""
        current = self.as_json()
        return {name: current[name] for name in self.writable if name in current}
