"""OpenTelemetry traces of requests and their store calls, off unless configured.

On when ``OTLP_ENDPOINT`` (or OpenTelemetry's ``OTEL_EXPORTER_OTLP_ENDPOINT``) names
an OTLP/HTTP collector, or when a test hands the app a ``TRACING_EXPORTER``: then
each request is a span (Flask instrumentation; a ``traceparent`` from the client
makes it part of the client's trace), with a child span per SQL statement
(SQLAlchemy) and per Redis command (redis-py), and every span carries the request's
id as ``request_id``. Off, nothing of OpenTelemetry is even imported.

The tracer provider is the app's own (``app.extensions["tracing"]``), not the
process-wide one, so two apps in a process never mix their spans. Spans are sent
in batches from a background thread, started in each worker after the fork
(myapp.ini loads the app lazily and enables threads).
"""

import functools
import os
from typing import Any

from flask import Flask, has_request_context

from .logs import current_request_id

EXTENSION = "tracing"
REQUEST_ID_ATTRIBUTE = "request_id"
# Probes and scrapes, every few seconds forever: not worth a trace each. A regular
# expression searched in the whole URL.
EXCLUDED_URLS = r"^[a-z]+://[^/]+/(health|metrics)(\?.*)?$"


def enabled(app: Flask) -> bool:
    return bool(app.config["OTLP_ENDPOINT"] or app.config.get("TRACING_EXPORTER"))


def init_app(app: Flask) -> None:
    """Instrument the app, its SQL engines and its Redis client; None when off."""
    if not enabled(app):
        return None
    from opentelemetry.instrumentation.flask import FlaskInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
    from opentelemetry.metrics import get_meter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from ..db import sql
    from .metrics import _commit, _version

    class RequestIdProcessor(SpanProcessor):
        """Puts the request's id on every span started while serving it."""

        def on_start(self, span: Any, parent_context: Any = None) -> None:
            if has_request_context():
                span.set_attribute(REQUEST_ID_ATTRIBUTE, current_request_id())

    exporter = app.config.get("TRACING_EXPORTER")
    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter,
        )

        exporter = OTLPSpanExporter(
            endpoint=app.config["OTLP_ENDPOINT"].rstrip("/") + "/v1/traces"
        )
    resource = Resource.create(
        {
            "service.name": os.environ.get("OTEL_SERVICE_NAME") or "myapp",
            "service.version": _version(),
            "vcs.revision": _commit(),
        }
    )
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(RequestIdProcessor())
    provider.add_span_processor(BatchSpanProcessor(exporter))
    app.extensions[EXTENSION] = provider

    FlaskInstrumentor.instrument_app(
        app, tracer_provider=provider, excluded_urls=EXCLUDED_URLS
    )
    tracer = provider.get_tracer("myapp.sql")
    # The connections gauge SQLAlchemy's instrumentation keeps needs a meter;
    # without a meter provider it is OpenTelemetry's no-op one.
    connections = get_meter("myapp.sql").create_up_down_counter(
        "db.client.connections.usage"
    )
    with app.app_context():
        for engine in sql.engines.values():
            EngineTracer(tracer, engine, connections)
    app.extensions["redis"].setup(
        functools.partial(RedisInstrumentor.instrument_client, tracer_provider=provider)
    )
