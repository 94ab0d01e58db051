"""The ceiling: a raw WSGI app answering a constant small JSON, no framework.

`make bench` serves it under the same uWSGI flags as the service; no Python WSGI
service can answer faster on the same machine, so each scenario is reported as a
ratio to it.
"""

BODY = b'{"status":"ok"}'
HEADERS = [("Content-Type", "application/json"), ("Content-Length", str(len(BODY)))]


def app(environ, start_response):
    start_response("200 OK", HEADERS)
    return [BODY]
