"""Ids: integer ids in URLs with one spelling each, and random UUIDs.

Integer ids have one spelling per id, so one URL per resource.

Werkzeug's ``int`` converter matches any Unicode digit (``/v1/foo/１３８``) and
reads leading zeros (``/v1/foo/003``), so one record would answer at many URLs;
the contract makes every other spelling a 404.
"""

import os

from flask import Flask
from werkzeug.routing import IntegerConverter


class CanonicalInteger(IntegerConverter):
    """``int``, but only ASCII digits without a leading zero (``0`` itself aside)."""

    regex = r"(?:0|[1-9][0-9]*)"


def init_app(app: Flask) -> None:
    """Every ``<int:...>`` route of ``app`` (register before the blueprints)."""
    app.url_map.converters["int"] = CanonicalInteger


# uuid4's version (4) and variant (RFC 4122) bits, as uuid.UUID(version=4) sets them.
_UUID4_CLEAR = ~(0xF000 << 64 | 0xC000 << 48)
_UUID4_SET = 0x4000 << 64 | 0x8000 << 48


def uuid4_hex() -> str:
    """What ``uuid.uuid4().hex`` gives, without a UUID object: request ids and
    Redis records' ids are made on every request that needs one."""
    value = int.from_bytes(os.urandom(16)) & _UUID4_CLEAR | _UUID4_SET
    return f"{value:032x}"
