"""The WSGI entry point (uWSGI: module = wsgi:app)."""

import sys

from myapp import create_app
from myapp.api.auth import ConfigError

try:
    app = create_app()
except ConfigError as error:
    # One clear line, then fail the import: uWSGI (need-app) then stops the whole
    # server, whereas sys.exit() would end only the worker, respawned forever.
    print(f"myapp: {error}", file=sys.stderr, flush=True)
    raise
