"""The values every store writes the same way: the bytes of a record, the time."""

import json
from datetime import datetime, timezone

# json.dumps with these options would build an encoder on every call.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def encode(document: object) -> bytes:
    """Compact UTF-8 JSON, exactly the bytes sent (and hashed into the ETag)."""
    return _ENCODER.encode(document).encode()


def utcnow() -> datetime:
    """Now, as naive UTC (what every store keeps)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)
