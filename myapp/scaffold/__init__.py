"""`flask scaffold NAME --store sql|redis`: a new feature like foo or bar, in one go.

The feature's files come from templates/ (Jinja); the factory gains one import line
and one FEATURES entry; an SQL feature also gets the migration creating its table.
"""

from .command import scaffold  # noqa: F401
