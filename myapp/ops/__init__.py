from .endpoints import blueprint  # noqa: F401
