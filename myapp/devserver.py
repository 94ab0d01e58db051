"""`make run`: Werkzeug's development server, without its version banner.

Werkzeug's handler sends ``Server: Werkzeug/<version> Python/<version>`` on every
response, next to the app's own ``Server: myapp``; this one leaves it out.
Production runs under uWSGI (wsgi.py), which adds no Server header.
"""

import argparse

from werkzeug.serving import WSGIRequestHandler, run_simple

from myapp import create_app


class RequestHandler(WSGIRequestHandler):
    """Sends the status line and Date, leaving Server to the app."""

    def send_response(self, code, message=None):
        self.log_request(code)
        self.send_response_only(code, message)
        self.send_header("Date", self.date_time_string())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args(argv)
    app = create_app()
    run_simple(
        args.host,
        args.port,
        app,
        use_reloader=app.debug,
        threaded=True,
        request_handler=RequestHandler,
    )


if __name__ == "__main__":
    main()
