"""Which names can become a feature, and the words its files are written with."""

import keyword
import re

# The name becomes a table and the migration "NNNN_create_<name>", and Alembic keeps
# revision ids in a VARCHAR(32).
MAX_LENGTH = 20
SNAKE_CASE = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")

# Taken by the service, by flask-restx or by the tools, whatever the routes say today.
RESERVED = frozenset(
    {
        "alembic_version",
        "api",
        "doc",
        "docs",
        "health",
        "instance",
        "migrations",
        "ready",
        "restx_doc",
        "root",
        "specs",
        "static",
        "swaggerui",
        "templates",
        "test",
        "tests",
        "v1",
    }
)


def syntax_problem(name):
    """Why ``name`` cannot be a feature's name whatever the project, or None."""
    if not SNAKE_CASE.fullmatch(name):
        return (
            "use lower-case snake case: a letter, then letters, digits and single"
            " underscores (it is a package, a URL segment and a table name)"
        )
    if len(name) > MAX_LENGTH:
        return f"use at most {MAX_LENGTH} characters"
    if keyword.iskeyword(name):
        return "it is a Python keyword"
    if name in RESERVED:
        return "it is reserved by the service"
    return None


def _plural(words):
    if re.search(r"(s|x|z|ch|sh)$", words):
        return words + "es"
    if re.search(r"[^aeiou]y$", words):
        return words[:-1] + "ies"
    return words + "s"


def describe(name):
    """The spellings of ``name`` the templates use (order_item: OrderItem, ...)."""
    parts = name.split("_")
    words = " ".join(parts)
    return {
        "name": name,
        "words": words,
        "plural": _plural(words),
        "a_words": ("an " if words[0] in "aeiou" else "a ") + words,
        "title": " ".join(part.capitalize() for part in parts),
        "class_name": "".join(part.capitalize() for part in parts),
    }
