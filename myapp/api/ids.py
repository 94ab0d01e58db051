"""Integer ids in URLs: one spelling per id, so one URL per resource.

Werkzeug's ``int`` converter matches any Unicode digit (``/v1/foo/１３８``) and
reads leading zeros (``/v1/foo/003``), so one record would answer at many URLs;
the contract makes every other spelling a 404.
"""

from flask import Flask
from werkzeug.routing import IntegerConverter


class CanonicalInteger(IntegerConverter):
    """``int``, but only ASCII digits without a leading zero (``0`` itself aside)."""

    regex = r"(?:0|[1-9][0-9]*)"


def init_app(app: Flask) -> None:
    """Every ``<int:...>`` route of ``app`` (register before the blueprints)."""
    app.url_map.converters["int"] = CanonicalInteger
