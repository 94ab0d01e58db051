"""What a setting is and the parsers that give its value a type.

Each parser takes what was loaded (a Python value from instance/config.py, or an
environment variable's string) and returns the typed value, or raises ValueError.
"""

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from limits import parse_many

ENV_PREFIX = "MYAPP"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}
# What a bearer token may hold: visible ASCII (RFC 6750's b64token and more).
_TOKEN = re.compile(r"[!-~]+")


class ConfigError(RuntimeError):
    """The configuration cannot run safely; the one-line message says what to set."""


@dataclass(frozen=True)
class Setting:
    """One setting: ``parse`` turns any loaded value into the typed one.

    ``parse`` raises ValueError (its text, if any, says which part is wrong) for a
    value that cannot be used; the ConfigError then says the value must be
    ``expects``. A ``secret`` value is never repeated in a message.
    """

    name: str
    parse: Callable[[Any], Any]
    default: Any
    expects: str
    meaning: str
    shown_default: str
    secret: bool = False

    def typed(self, value: Any) -> Any:
        try:
            return self.parse(value)
        except ValueError as error:
            reason = f" ({error})" if str(error) else ""
            shown = "" if self.secret else f", not {value!r}"
            raise ConfigError(
                f"{self.name} ({ENV_PREFIX}_{self.name}) must be"
                f" {self.expects}{reason}{shown}"
            ) from None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (list, dict)) or value is None:
        raise ValueError()
    text = str(value).strip().lower()
    if text not in _TRUE | _FALSE:
        raise ValueError()
    return text in _TRUE


def whole_number(minimum: int) -> Callable[[Any], int]:
    def parse(value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise ValueError()
        text = str(value).strip()
        if not re.fullmatch(r"-?[0-9]+", text) or int(text) < minimum:
            raise ValueError()
        return int(text)

    return parse


def seconds(allow_zero: bool) -> Callable[[Any], float]:
    """A duration in seconds, a number (or a numeric string); 0 only if allowed."""

    def parse(value: Any) -> Any:
        if isinstance(value, str):
            try:
                value = float(value.strip())
            except ValueError:
                raise ValueError() from None
        if not _is_number(value) or value != value or value in (float("inf"),):
            raise ValueError()
        if value < 0 or (value == 0 and not allow_zero):
            raise ValueError()
        return value

    return parse


def text(value: Any) -> str:
    if isinstance(value, (list, dict, bool)) or value is None:
        raise ValueError()
    return str(value)


def optional_text(value: Any) -> str | None:
    if value is None:
        return None
    return text(value).strip() or None


def text_list(value: Any) -> list[str]:
    """A list from a comma-separated string or a JSON list; every item a word."""
    if value is None:
        return []
    if isinstance(value, str):
        if not value.strip():
            return []
        items = value.split(",")
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise ValueError(f"got {type(value).__name__}")
    result = []
    for position, item in enumerate(items, 1):
        if not isinstance(item, str):
            raise ValueError(f"item {position} is not a string")
        item = item.strip()
        if not item:
            raise ValueError(f"item {position} is empty")
        result.append(item)
    return result


def tokens(value: Any) -> list[str]:
    """Bearer tokens: never an empty one (it would match an empty bearer)."""
    if _is_number(value) or isinstance(value, bool):
        raise ValueError(
            "got a bare number or boolean; write a token of digits as a JSON"
            " list, e.g. MYAPP_API_TOKENS='[\"...\"]'"
        )
    found = text_list(value)
    for position, token in enumerate(found, 1):
        if not _TOKEN.fullmatch(token):
            raise ValueError(f"item {position} has spaces or non-ASCII characters")
    return found


def optional_token(value: Any) -> str | None:
    """None when unset; else one bearer token (set but empty is a mistake)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"got {type(value).__name__}")
    if not value.strip():
        raise ValueError("it is empty")
    if not _TOKEN.fullmatch(value.strip()):
        raise ValueError("it has spaces or non-ASCII characters")
    return value.strip()


def optional_http_url(value: Any) -> str | None:
    url = optional_text(value)
    if url is not None and not re.fullmatch(r"https?://[^\s/]+(/\S*)?", url):
        raise ValueError()
    return url


def rate_limit(value: Any) -> str | None:
    limit = optional_text(value)
    if limit is not None:
        parse_many(limit)  # a ValueError if it does not parse
    return limit


def database_url(value: Any) -> str | None:
    """None means a SQLite file in the instance folder (set by ``normalise``)."""
    url = optional_text(value)
    if url is not None:
        try:
            sa.engine.make_url(url)
        except sa.exc.ArgumentError:
            raise ValueError() from None
    return url


def redis_url(value: Any) -> str:
    url = text(value).strip()
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError()
    return url


def mapping(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError()
    return dict(value)
