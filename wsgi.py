"""The WSGI entry point (uWSGI: module = wsgi:app)."""

import sys

from myapp import create_app
from myapp.settings import ConfigError


def _report_config_error(kind, error, traceback):
    """A configuration error is one line that says what to set, not a traceback."""
    if issubclass(kind, ConfigError):
        print(f"myapp: {error}", file=sys.stderr, flush=True)
    else:
        sys.__excepthook__(kind, error, traceback)


try:
    app = create_app()
except ConfigError:
    # Fail the import: uWSGI (need-app) then stops the whole server, whereas
    # sys.exit() would end only the worker, respawned forever.
    sys.excepthook = _report_config_error
    raise
