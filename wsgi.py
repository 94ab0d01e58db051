"""The WSGI entry point (uWSGI: module = wsgi:app)."""

import sys

from myapp import create_app
from myapp.api.auth import ConfigError

try:
    app = create_app()
except ConfigError as error:
    sys.exit(f"myapp: {error}")
