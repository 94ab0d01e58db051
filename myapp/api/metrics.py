"""Prometheus metrics of the whole server: requests, durations, store calls, build.

Under uWSGI each worker is a process of its own, so the values live in
prometheus_client's multiprocess files (``PROMETHEUS_MULTIPROC_DIR``, one fresh
directory per server: see metrics_directory.py) and /metrics sums every worker's,
dead ones included: a worker recycled by ``max-requests`` leaves its counts behind
and its successor starts files of its own, so nothing is lost or counted twice.
Each scrape folds the dead workers' counter and histogram files into one archive
file per kind (the library's ``merge(accumulate=False)``, made for writing merged
values back), so a scrape reads as many files after a month of recycling as after
an hour. The gauges forget a dead worker (``mark_process_dead``): at a clean exit,
and at each scrape for workers that were killed. Without the variable (tests,
``make run``) the values are the process's own.

Metrics are process-wide, as the library keeps them; an app only decides whether
its requests are counted (``METRICS_ENABLED``) and who may read /metrics.
"""

from __future__ import annotations

import atexit
import fcntl
import functools
import hmac
import operator
import os
import subprocess
import time
import tomllib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

from flask import Flask, Request, current_app, request
from prometheus_client import (
    CONTENT_TYPE_PLAIN_0_0_4,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
    values,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Sample
from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Rule
from werkzeug.wrappers import Response

from . import metrics_files, metrics_values
from .auth import MissingToken

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment
ROOT = Path(__file__).resolve().parent.parent.parent

# Route label of a request that matched no URL rule (404, 405, or refused before
# routing): never the raw path, so the number of series stays bounded.
UNMATCHED = "<unmatched>"
# Clients may send any method; others than these are counted under one label.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "OTHER"

# Our requests take milliseconds; a bound at 50 ms matches the p99 target.
REQUEST_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
)
STORE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5)

MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))

if MULTIPROCESS:
    # Before any metric is made: each takes its value class when made.
    values.ValueClass = metrics_values.InPlaceValue

# The same series in one process as summed over workers (which have no _created).
disable_created_metrics()

# Where the metrics are registered: a registry of our own (not the library's
# default one, which would add per-process collectors that multiprocess mode
# cannot sum).
REGISTRY = CollectorRegistry()

# What each request writes: one count as it starts, one observation as it is
# answered. Every write is a locked write into a worker's file
# (metrics_values.py), so a request makes as few as its series need: the
# answered count (http_requests_total) is the histogram's count, and the
# in-flight gauge the live workers' started minus answered, both derived at each
# scrape (see exposition).
DURATION_NAME = "http_request_duration_seconds"
STARTED_NAME = "myapp_requests_started"
REQUEST_DURATION = Histogram(
    DURATION_NAME,
    "Time to answer an HTTP request, by method, URL rule and status.",
    ["method", "route", "status"],
    buckets=REQUEST_BUCKETS,
    registry=REGISTRY,
)
REQUESTS_STARTED = Counter(
    STARTED_NAME,
    "HTTP requests begun (not exposed: http_requests_in_flight is derived from it).",
    registry=REGISTRY,
)
STORE_DURATION = Histogram(
    "store_call_duration_seconds",
    "Time of one call into a store (sql, redis), by operation.",
    ["store", "operation"],
    buckets=STORE_BUCKETS,
    registry=REGISTRY,
)
STORE_FAILURES = Counter(
    "store_call_failures_total",
    "Store calls that failed (unreachable, timed out, refused, unexpected error).",
    ["store", "operation"],
    registry=REGISTRY,
)
BUILD_INFO = Gauge(
    "myapp_build_info",
    "Always 1; the labels say which code this server runs.",
    ["version", "commit"],
    multiprocess_mode="livemax",
    registry=REGISTRY,
)

# Store calls are timed once an app with metrics enabled exists in the process.
_recording = False

F = TypeVar("F", bound=Callable)


def store_call(store: str, operation: str) -> Callable[[F], F]:
    """Time a store method and count its failures under (store, operation).

    A failure is any exception but an HTTP error below 500: a 400 for bad input
    or a 409 for a duplicate is the client's, not the store's.
    """
    observe = metrics_values.observer(STORE_DURATION.labels(store, operation))
    failures = STORE_FAILURES.labels(store, operation)

    def decorate(function: F) -> F:
        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            if not _recording:
                return function(*args, **kwargs)
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            except HTTPException as error:
                if error.code is None or error.code >= 500:
                    failures.inc()
                raise
            except Exception:
                failures.inc()
                raise
            finally:
                observe(time.perf_counter() - started)

        return cast(F, timed)

    return decorate


# Where the URL rule the request matched is noted for the middleware, which runs
# after Flask has dropped the request.
ROUTE = "myapp.route"


class RouteNotingRequest(Request):
    """A request that notes the rule it matched (``/v1/foo/<int:id>``) in its
    environ as Flask sets it, for RequestMetrics to label the request with.

    Flask matches once per request, before any hook or view runs, so every
    request that matched a rule is labelled by it, answered or failed.
    """

    _url_rule: Rule | None = None

    def _note_url_rule(self, rule: Rule | None) -> None:
        self._url_rule = rule
        if rule is not None:
            self.environ[ROUTE] = rule.rule

    # Flask reads the rule several times a request: the getter is C, no frame.
    url_rule = property(operator.attrgetter("_url_rule"), _note_url_rule)


class RequestMetrics:
    """WSGI middleware, outermost: counts and times every response the app gives.

    Outermost, so it sees what every inner layer answers (errors and refusals
    included) and the whole time spent. The status is the one handed to
    start_response; an exception that escapes the app is counted as a 500.
    """

    def __init__(self, wsgi_app: WSGIApplication) -> None:
        self.wsgi_app = wsgi_app
        self._observers: dict[tuple[str, str, str], Callable[[float], None]] = {}
        self._started = metrics_values.value_of(REQUESTS_STARTED)

    def _observer(self, key: tuple[str, str, str]) -> Callable[[float], None]:
        """The observe of the series (method, route, status), made at its first use."""
        observe = self._observers[key] = metrics_values.observer(
            REQUEST_DURATION.labels(*key)
        )
        return observe

    def __call__(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        started = time.perf_counter()
        status = ["500"]

        def start(
            status_line: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Any:
            status[0] = status_line[:3]
            return start_response(status_line, headers, exc_info)

        self._started.inc(1.0)
        try:
            return self.wsgi_app(environ, start)
        except BaseException:
            status[0] = "500"
            raise
        finally:
            method = environ.get("REQUEST_METHOD", "")
            key = (
                method if method in METHODS else OTHER_METHOD,
                environ.get(ROUTE, UNMATCHED),
                status[0],
            )
            observe = self._observers.get(key) or self._observer(key)
            observe(time.perf_counter() - started)


def _version() -> str:
    """The [project] version in pyproject.toml."""
    try:
        with open(ROOT / "pyproject.toml", "rb") as file:
            return str(tomllib.load(file)["project"]["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"


def _commit() -> str:
    """REVISION (written by deploys, which copy no .git), else git's HEAD."""
    try:
        return (ROOT / "REVISION").read_text().strip()[:40] or "unknown"
    except OSError:
        pass
    try:
        result = subprocess.run(  # fixed arguments, no shell
            ["git", "-C", str(ROOT), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    commit = result.stdout.strip()
    return commit if result.returncode == 0 and commit else "unknown"


# Scrapes of one server take turns: folding must not race another's reading.
LOCK_FILE = "scrape.lock"


class _Families:
    """Metric families already collected, as generate_latest reads a registry."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> list[Metric]:
        return self.families


def _answered(families: Iterable[Metric]) -> Iterable[Sample]:
    """The request histogram's counts: one per (method, route, status)."""
    for family in families:
        if family.name == DURATION_NAME:
            for sample in family.samples:
                if sample.name.endswith("_count"):
                    yield sample


def _started_count(families: Iterable[Metric]) -> float:
    return sum(
        sample.value
        for family in families
        if family.name == STARTED_NAME
        for sample in family.samples
    )


def _derived(families: list[Metric], live: list[Metric]) -> list[Metric]:
    """The exposition's families: ``families`` with the answered counts as
    http_requests_total and the in-flight gauge of the ``live`` workers' values,
    without the started count they are derived from."""
    requests = CounterMetricFamily(
        "http_requests_total",
        "HTTP requests answered, by method, URL rule and status.",
        labels=["method", "route", "status"],
    )
    for sample in _answered(families):
        labels = sample.labels
        requests.add_metric(
            [labels["method"], labels["route"], labels["status"]], sample.value
        )
    answered = sum(sample.value for sample in _answered(live))
    in_flight = GaugeMetricFamily(
        "http_requests_in_flight",
        "HTTP requests being answered now, over every live worker.",
        value=max(_started_count(live) - answered, 0),
    )
    kept = [family for family in families if family.name != STARTED_NAME]
    return [requests, in_flight, *kept]


def exposition() -> bytes:
    """The text exposition: every worker's values summed in multiprocess mode.

    In flight are the requests the live workers started and have not answered:
    after the tidy, the files left of single workers are the live ones' (a
    worker that dies during the scrape counts until the next). Their answered
    counts are read before their started counts, so a request answered between
    the two reads cannot make the gauge fall below the truth.
    """
    if not MULTIPROCESS:
        families = list(REGISTRY.collect())
        return generate_latest(_Families(_derived(families, families)))
    directory = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    with open(os.path.join(directory, LOCK_FILE), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        metrics_files.tidy(directory)
        live = metrics_files.live_worker_files(directory)
        live_families = list(multiprocess.MultiProcessCollector.merge(live))
        families = list(multiprocess.MultiProcessCollector(None, directory).collect())
    return generate_latest(_Families(_derived(families, live_families)))


def metrics_view() -> Response:
    """GET /metrics, as the contract says: open in development, else the token.

    In production: 404 while no METRICS_TOKEN is configured (nothing to find),
    401 without ``Authorization: Bearer <METRICS_TOKEN>``.
    """
    config = current_app.config
    if not config["METRICS_ENABLED"]:
        raise NotFound()
    if not (current_app.debug or current_app.testing):
        token = config["METRICS_TOKEN"]
        if token is None:
            raise NotFound()
        scheme, _, supplied = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            supplied.strip().encode("utf-8", "surrogateescape"), token.encode("utf-8")
        ):
            raise MissingToken(
                "/metrics needs 'Authorization: Bearer <token>' with the metrics token."
            )
    return Response(exposition(), content_type=CONTENT_TYPE_PLAIN_0_0_4)


_started = False


def _start_process() -> None:
    """Once per process: the build's series, and the worker's exit bookkeeping."""
    global _started
    if _started:
        return
    _started = True
    BUILD_INFO.labels(_version(), _commit()).set(1)
    if MULTIPROCESS:
        directory = os.environ["PROMETHEUS_MULTIPROC_DIR"]
        pid = os.getpid()
        # A recycled worker runs this on its way out (max-requests, reload).
        atexit.register(multiprocess.mark_process_dead, pid, directory)


def init_app(app: Flask) -> None:
    """Count the app's requests (unless METRICS_ENABLED is false)."""
    global _recording
    if not app.config["METRICS_ENABLED"]:
        return
    _start_process()
    _recording = True
    app.request_class = RouteNotingRequest
    app.wsgi_app = RequestMetrics(app.wsgi_app)  # type: ignore[method-assign]
