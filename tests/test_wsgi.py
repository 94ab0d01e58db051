"""wsgi.py, imported as uWSGI imports it: in a fresh production process."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def import_wsgi(tmp_path, **variables):
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MYAPP_", "FLASK_"))
    }
    environment["MYAPP_SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{tmp_path / 'db'}"
    environment.update(variables)
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import flask, wsgi; print(isinstance(wsgi.app, flask.Flask))",
        ],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_app_loads_with_tokens(tmp_path):
    result = import_wsgi(tmp_path, MYAPP_API_TOKENS="t1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"


def test_production_without_tokens_fails_the_import_with_one_clear_line(tmp_path):
    result = import_wsgi(tmp_path)
    assert result.returncode != 0
    # An exception (not sys.exit(): uWSGI's need-app stops only on a failed
    # import), reported as one line.
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        line for line in result.stderr.splitlines() if line.startswith("myapp: ")
    ]
    assert result.stderr.startswith("myapp: No API tokens configured: set MYAPP_API")
