"""OpenTelemetry traces: a request's span and its store calls' spans, with its id.

The app gets the SDK's in-memory exporter (TRACING_EXPORTER) in place of OTLP,
so the spans the instrumentations make are read back as they would be sent; one
test sends them over OTLP/HTTP, as production does, to a collector of its own.
"""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.trace import SpanKind

from myapp.db import redis_store, sql

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


@pytest.fixture
def traced(make_app):
    exporter = InMemorySpanExporter()
    app = make_app(TRACING_EXPORTER=exporter)
    provider = app.extensions["tracing"]

    def spans():
        provider.force_flush()
        finished = exporter.get_finished_spans()
        exporter.clear()
        return finished

    yield app, spans
    provider.shutdown()


def server_span(spans):
    (server,) = [span for span in spans if span.kind == SpanKind.SERVER]
    return server


def test_a_request_and_its_sql_call_are_spans_with_the_request_id(traced):
    app, spans = traced
    client = app.test_client()
    created = client.post("/v1/foo/", json={"name": "traced"}).get_json()
    spans()
    response = client.get(
        f"/v1/foo/{created['id']}",
        headers={
            "X-Request-ID": "trace-me-1",
            "traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01",
        },
    )
    assert response.status_code == 200
    finished = spans()
    server = server_span(finished)
    # The client's traceparent: the request joins the client's trace.
    assert format(server.context.trace_id, "032x") == TRACE_ID
    assert format(server.parent.span_id, "016x") == PARENT_ID
    assert server.attributes["request_id"] == "trace-me-1"
    assert server.attributes["http.route"].startswith("/v1/foo/<")
    sql_spans = [span for span in finished if span.kind == SpanKind.CLIENT]
    assert sql_spans, [span.name for span in finished]
    for span in sql_spans:
        assert span.parent.span_id == server.context.span_id
        assert span.context.trace_id == server.context.trace_id
        assert span.attributes["request_id"] == "trace-me-1"
    # Beside the test harness's savepoints: the statement that read the foo.
    statements = [span.attributes["db.statement"] for span in sql_spans]
    assert [s for s in statements if s.startswith("SELECT") and "foo" in s]


def test_a_redis_call_is_a_span_of_its_request(traced):
    app, spans = traced
    client = app.test_client()
    created = client.post("/v1/bar/", json={"name": "traced"}).get_json()
    spans()
    response = client.get(f"/v1/bar/{created['id']}")
    assert response.status_code == 200
    finished = spans()
    server = server_span(finished)
    request_id = response.headers["X-Request-ID"]
    assert server.attributes["request_id"] == request_id
    (redis_span,) = [span for span in finished if span.kind == SpanKind.CLIENT]
    assert redis_span.name == "GET"
    assert redis_span.parent.span_id == server.context.span_id
    assert redis_span.attributes["request_id"] == request_id
    # Without a traceparent the request starts a trace of its own.
    assert server.parent is None


def test_probes_and_scrapes_make_no_spans(traced):
    app, spans = traced
    client = app.test_client()
    spans()
    assert client.get("/health").status_code == 200
    assert client.get("/metrics").status_code == 200
    assert client.get("/health?verbose=1").status_code == 200
    assert [span.name for span in spans()] == []
    assert client.get("/v1/foo/?name=/health").status_code == 200
    assert server_span(spans()).attributes["http.route"] == "/v1/foo/"


def test_tracing_off_instruments_nothing(app, traced):
    """Off (the default), no layer, hook or listener of OpenTelemetry is added."""
    instrumented = "_is_instrumented_by_opentelemetry"
    traced_app, _ = traced
    assert getattr(traced_app, instrumented) is True
    with traced_app.app_context():
        assert getattr(redis_store.client, instrumented) is True
    assert "tracing" not in app.extensions
    assert not getattr(app, instrumented, False)
    with app.app_context():
        assert not getattr(redis_store.client, instrumented, False)
    with app.app_context():
        engine = sql.engines[None].engine
        assert not engine.dispatch.before_cursor_execute


class Collector(ThreadingHTTPServer):
    """A stand-in OTLP/HTTP collector on loopback: keeps each export it gets."""

    def __init__(self):
        self.exports = []
        super().__init__(("127.0.0.1", 0), CollectorHandler)


class CollectorHandler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.exports.append((self.path, self.headers["Content-Type"], body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_spans_reach_an_otlp_collector(make_app):
    collector = Collector()
    thread = threading.Thread(target=collector.serve_forever, daemon=True)
    thread.start()
    try:
        endpoint = f"http://127.0.0.1:{collector.server_port}/"
        app = make_app(OTLP_ENDPOINT=endpoint)
        response = app.test_client().get("/v1/foo/", headers={"X-Request-ID": "otlp-1"})
        assert response.status_code == 200
        app.extensions["tracing"].force_flush()
        app.extensions["tracing"].shutdown()
    finally:
        collector.shutdown()
        collector.server_close()
    assert collector.exports
    spans = []
    for path, content_type, body in collector.exports:
        assert (path, content_type) == ("/v1/traces", "application/x-protobuf")
        export = ExportTraceServiceRequest.FromString(body)
        for resource_spans in export.resource_spans:
            resource = {
                item.key: item.value.string_value
                for item in resource_spans.resource.attributes
            }
            assert resource["service.name"] == "myapp"
            assert resource["service.version"] == "1.1.0"
            for scope_spans in resource_spans.scope_spans:
                spans += scope_spans.spans
    (server,) = [span for span in spans if span.kind == span.SPAN_KIND_SERVER]
    attributes = {item.key: item.value.string_value for item in server.attributes}
    assert attributes["request_id"] == "otlp-1"
    assert attributes["http.route"] == "/v1/foo/"
