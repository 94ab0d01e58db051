"""Bar: the Redis-backed resource."""

from ..api.redis_store import RedisModel
from ..api.schemas import DRAFT_07, TIMESTAMP

NAME = {"type": "string", "minLength": 1, "maxLength": 120}


class BarModel(RedisModel):
    kind = "bar"

    read_schema = {
        "$schema": DRAFT_07,
        "$id": "https://myapp.example/schemas/bar.json",
        "title": "Bar",
        "description": "Representation of a Bar",
        "type": "object",
        "properties": {
            "id": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
            "name": NAME,
            "created_at": TIMESTAMP,
            "updated_at": TIMESTAMP,
        },
        "additionalProperties": False,
        "required": ["id", "name", "created_at", "updated_at"],
    }

    # id and the timestamps are set by the service, so they are not writable.
    write_schema = {
        "$schema": DRAFT_07,
        "$id": "https://myapp.example/schemas/bar-write.json",
        "title": "Bar Write",
        "description": "Representation of a user creating or updating a Bar",
        "type": "object",
        "properties": {"name": NAME},
        "additionalProperties": False,
        "required": ["name"],
    }
