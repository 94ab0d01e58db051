"""Fixtures for the service-wide tests: captured app logs and a live server."""

import io
import logging
import threading

import pytest
from werkzeug.serving import make_server

from myapp.devserver import RequestHandler


@pytest.fixture
def capture_log():
    """After an app is made, send its log lines to a buffer (returned)."""
    swapped = []

    def capture():
        buffer = io.StringIO()
        for name in ("myapp", "flask-limiter"):
            for handler in logging.getLogger(name).handlers:
                # Only the app's own handler: pytest adds its capture handlers too.
                if getattr(handler, "myapp_handler", False):
                    swapped.append((handler, handler.setStream(buffer)))
        return buffer

    yield capture
    for handler, stream in reversed(swapped):
        handler.setStream(stream)


@pytest.fixture
def live_server():
    """Serve an app with `make run`'s server on a free loopback port; yields start."""
    running = []

    def start(app):
        server = make_server(
            "127.0.0.1", 0, app, threaded=True, request_handler=RequestHandler
        )
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        thread.start()
        running.append((server, thread))
        return server.server_port

    yield start
    for server, thread in running:
        server.shutdown()
        server.server_close()
        thread.join(10)
