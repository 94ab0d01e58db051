"""Models stored in Redis: one JSON string per record plus a creation-order index.

Keys, under REDIS_KEY_PREFIX: ``<kind>:<id>`` (the record, exactly the bytes
served), ``<kind>:index`` (sorted set of ids scored by a creation sequence) and
``<kind>:seq``. Every write is one Lua script, so record and index change together;
updates and deletes compare-and-set against the record as it was read.
"""

import json
import re
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import Any, Self, cast

import redis
from flask import Flask, current_app
from redis.commands.core import Script

from ..db import ThreadClients
from .fields import rfc3339
from .ids import uuid4_hex
from .metrics import store_call
from .model import StoredModel
from .paging import Page, PageQuery, SortKey
from .values import encode, utcnow

_ID = re.compile(r"[0-9a-f]{32}")

CREATE = """
local seq = redis.call('INCR', KEYS[3])
redis.call('SET', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], seq, ARGV[2])
return seq
"""

REPLACE_IF_UNCHANGED = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
return 1
"""

# A page at once: the count, limit + 1 index entries (is there a next page?) from
# a rank (offset) or after a sequence (cursor), and the first limit records. The
# record keys are made from the entries, so they are not in KEYS: like MGET,
# this needs every key on one server (no Redis Cluster).
PAGE = """
local count = redis.call('ZCARD', KEYS[1])
local limit = tonumber(ARGV[3])
local entries
if ARGV[1] == 'rank' then
  entries = redis.call('ZRANGE', KEYS[1], ARGV[2], ARGV[2] + limit, 'WITHSCORES')
else
  entries = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[2], '+inf',
                       'WITHSCORES', 'LIMIT', 0, limit + 1)
end
local keys = {}
for i = 1, math.min(#entries / 2, limit) do
  keys[i] = ARGV[4] .. entries[2 * i - 1]
end
local records = {}
if #keys > 0 then
  records = redis.call('MGET', unpack(keys))
end
return {count, entries, records}
"""

DELETE_IF_UNCHANGED = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[2])
return 1
"""


class RedisStore:
    """An app's Redis as its models use it: the thread's client, the key prefix
    and the scripts (EVALSHA, each loaded once)."""

    def __init__(self, app: Flask) -> None:
        self.clients: ThreadClients = app.extensions["redis"]
        self.prefix = app.config["REDIS_KEY_PREFIX"]
        self._scripts: dict[str, Script] = {}

    @property
    def client(self) -> redis.Redis:
        return self.clients.get()

    def keys(self, kind: str | None, *suffixes: str) -> list[str]:
        """``kind``'s keys (``<REDIS_KEY_PREFIX><kind>:<suffix>``), in order."""
        prefix = f"{self.prefix}{kind}:"
        return [prefix + suffix for suffix in suffixes]

    def run(self, source: str, keys: list[str], args: list[Any]) -> Any:
        """Run the Lua script ``source`` on this thread's client."""
        script = self._scripts.get(source)
        if script is None:
            script = self._scripts[source] = self.clients.pooled.register_script(source)
        return script(keys=keys, args=args, client=self.client)


def _store() -> RedisStore:
    """The current app's RedisStore, made at its first use (one look at the app)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    store = app.extensions.get("redis_models")
    if store is None:
        store = app.extensions["redis_models"] = RedisStore(app)
    return store


class RedisModel(StoredModel):
    """A resource stored in Redis under ``kind`` (its ``resource``); uuid4 hex ids.

    Records are the canonical JSON documents themselves: typed and validated as
    the declaration says, listed in creation order (no secondary index to sort or
    filter by).
    """

    kind: str | None = None
    id_schema = {"type": "string", "pattern": "^[0-9a-f]{32}$"}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("fields") is not None:
            cls.kind = cls.resource

    def __init__(self, stored: str, document: dict[str, Any] | None = None) -> None:
        self.stored = stored
        if document is not None:
            self.document = document

    @cached_property
    def document(self) -> dict[str, Any]:
        """Parsed when a field is needed; GETs and lists send the stored text as is."""
        return json.loads(self.stored)

    @property
    def id(self) -> str:
        return self.document["id"]

    def as_json(self) -> dict[str, Any]:
        return self.document

    def as_bytes(self) -> bytes:
        return self.stored.encode()

    @classmethod
    def items_bytes(cls, records: Sequence["StoredModel"]) -> bytes:
        """The stored documents as they are, in one array: nothing to encode."""
        return b"[%s]" % b",".join(record.as_bytes() for record in records)

    @classmethod
    @store_call("redis", "get")
    def get(cls, id: str) -> Self | None:
        if not _ID.fullmatch(id):
            return None
        store = _store()
        (key,) = store.keys(cls.kind, id)
        stored = cast(str | None, store.client.get(key))  # decode_responses
        return cls(stored) if stored is not None else None

    @classmethod
    def position_from_json(cls, sort: Sequence[SortKey], values: Any) -> tuple[int]:
        """A cursor's position: the creation sequence of the last record served."""
        if sort or not isinstance(values, list) or len(values) != 1:
            raise ValueError("a position of another order")
        (sequence,) = values
        if not isinstance(sequence, int) or isinstance(sequence, bool):
            raise TypeError("the sequence is not an integer")
        return (sequence,)

    @classmethod
    @store_call("redis", "page")
    def page(cls, query: PageQuery) -> Page:
        """A page in creation order: by rank (offset) or after a sequence (cursor).

        The index is scored by creation sequence, so a cursor page is a range by
        score, of constant cost at any depth; ZCARD is O(1). One script reads the
        count, the entries and the records in one round trip and one snapshot.
        """
        if query.after is None:
            start = ("rank", cast(int, query.offset))  # a page not after a cursor
        else:
            start = ("after", query.after[0])
        store = _store()
        index, prefix = store.keys(cls.kind, "index", "")
        counted, entries, stored = store.run(
            PAGE, keys=[index], args=[*start, query.limit, prefix]
        )
        next_position = None
        if len(entries) > 2 * query.limit:
            next_position = (int(entries[2 * query.limit - 1]),)
        records = [cls(value) for value in stored if value is not None]
        return Page(records, counted, next_position)

    @classmethod
    @store_call("redis", "create")
    def create(cls, data: Mapping[str, Any]) -> Self:
        now = rfc3339(utcnow())
        id = uuid4_hex()
        document = {"id": id, **cls.canonical(data)}
        document.update(created_at=now, updated_at=now)
        stored = encode(document).decode()
        store = _store()
        store.run(
            CREATE, keys=store.keys(cls.kind, id, "index", "seq"), args=[stored, id]
        )
        return cls(stored, document)

    @store_call("redis", "update")
    def update(self, data: Mapping[str, Any]) -> Self | None:
        """Replace the writable fields; None if the record changed since it was read."""
        document = {"id": self.id, **self.canonical(data)}
        document.update(
            created_at=self.document["created_at"], updated_at=rfc3339(utcnow())
        )
        stored = encode(document).decode()
        store = _store()
        applied = store.run(
            REPLACE_IF_UNCHANGED,
            keys=store.keys(self.kind, self.id),
            args=[self.stored, stored],
        )
        return type(self)(stored, document) if applied else None

    @store_call("redis", "delete")
    def delete(self) -> bool:
        """Delete the record; False if it changed since it was read."""
        store = _store()
        return bool(
            store.run(
                DELETE_IF_UNCHANGED,
                keys=store.keys(self.kind, self.id, "index"),
                args=[self.stored, self.id],
            )
        )
