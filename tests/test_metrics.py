"""GET /metrics in one process: who may read it, and what it counts.

Metrics are process-wide (as prometheus_client keeps them), so each test reads
the values before and after what it does and checks the difference. Several
worker processes summed are tested under uWSGI in test_metrics_uwsgi.py.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from myapp.settings import ConfigError
from myapp.api.metrics import OTHER_METHOD, UNMATCHED
from myapp_testing.contract import assert_problem

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "metrics-token-value"
API_TOKEN = "api-token-value"
TEXT_FORMAT = "text/plain; version=0.0.4; charset=utf-8"


def samples(client, headers=None):
    """{(name, labels as sorted tuple): value} from a scrape."""
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.data
    assert response.headers["Content-Type"] == TEXT_FORMAT
    found = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found, name, **labels):
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def foo_route(app):
    """The URL rule of one foo, as the route label spells it."""
    return next(
        rule.rule for rule in app.url_map.iter_rules() if rule.endpoint == "foo.foo_foo"
    )


def test_requests_are_counted_by_method_rule_and_status(app, client):
    route = foo_route(app)
    created = client.post("/v1/foo/", json={"name": "counted"}).get_json()
    before = samples(client)
    for _ in range(3):
        assert client.get(f"/v1/foo/{created['id']}").status_code == 200
    assert client.get("/v1/foo/999999").status_code == 404
    assert client.get("/no/such/path/1").status_code == 404
    assert client.get("/no/such/path/2").status_code == 404
    assert client.open("/v1/foo/", method="BREW").status_code == 405
    after = samples(client)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    requests = "http_requests_total"
    assert delta(requests, method="GET", route=route, status="200") == 3
    assert delta(requests, method="GET", route=route, status="404") == 1
    # Never the raw path: unmatched requests share one label, odd methods another.
    assert delta(requests, method="GET", route=UNMATCHED, status="404") == 2
    assert delta(requests, method=OTHER_METHOD, route=UNMATCHED, status="405") == 1
    assert not [key for key in after if "/no/such" in str(key) or "BREW" in str(key)]
    histogram = "http_request_duration_seconds_count"
    for status, count in (("200", 3), ("404", 1)):
        labels = {"method": "GET", "route": route, "status": status}
        assert delta(histogram, **labels) == count
        assert (
            delta("http_request_duration_seconds_bucket", le="+Inf", **labels) == count
        )
    assert delta("store_call_duration_seconds_count", store="sql", operation="get") == 4
    # The scrape itself is in flight while it is answered.
    assert value(after, "http_requests_in_flight") == 1
    build = [key for key in after if key[0] == "myapp_build_info"]
    assert len(build) == 1 and dict(build[0][1])["version"] == "1.1.0"
    assert after[build[0]] == 1


def test_store_failures_are_counted_per_store_and_operation(client, redis_server):
    created = client.post("/v1/bar/", json={"name": "before"}).get_json()
    before = samples(client)
    redis_server.stop()
    try:
        assert client.get(f"/v1/bar/{created['id']}").status_code == 503
        assert client.get("/v1/bar/").status_code == 503
        assert client.get("/ready").status_code == 503
    finally:
        redis_server.start()
    # Bad input is the client's failure, not the store's.
    assert client.get("/v1/foo/?name=%00").status_code in (200, 400)
    after = samples(client)

    def failures(store, operation):
        labels = {"store": store, "operation": operation}
        name = "store_call_failures_total"
        return value(after, name, **labels) - value(before, name, **labels)

    assert failures("redis", "get") == 1
    assert failures("redis", "page") == 1
    assert failures("redis", "ping") == 1
    assert failures("sql", "ping") == 0
    assert failures("sql", "page") == 0


def production_app(make_app, **overrides):
    return make_app(env="production", API_TOKENS=[API_TOKEN], **overrides)


def test_production_needs_the_metrics_token(make_app):
    client = production_app(make_app, METRICS_TOKEN=TOKEN).test_client()
    for headers in (
        None,
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Bearer {API_TOKEN}"},  # a write token is not enough
        {"Authorization": f"Basic {TOKEN}"},
    ):
        response = client.get("/metrics", headers=headers)
        assert_problem(response, 401)
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert b"http_requests_total" not in response.data
    found = samples(client, {"Authorization": f"Bearer {TOKEN}"})
    assert ("http_requests_in_flight", ()) in found


def test_production_without_a_metrics_token_has_no_metrics(make_app):
    client = production_app(make_app).test_client()
    assert_problem(client.get("/metrics"), 404)
    assert_problem(client.get("/metrics", headers={"Authorization": "Bearer "}), 404)


def test_development_serves_metrics_openly(make_app):
    client = make_app(env="development").test_client()
    assert "http_requests_total" in client.get("/metrics").get_data(as_text=True)


def test_metrics_are_never_rate_limited(make_app):
    app = production_app(make_app, METRICS_TOKEN=TOKEN, RATELIMIT_DEFAULT="2/minute")
    client = app.test_client()
    headers = {"Authorization": f"Bearer {TOKEN}"}
    for _ in range(5):
        assert client.get("/metrics", headers=headers).status_code == 200
    statuses = [client.get("/v1/foo/").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]


def test_metrics_can_be_switched_off(make_app):
    client = make_app(env="development", METRICS_ENABLED="false").test_client()
    assert_problem(client.get("/metrics"), 404)


@pytest.mark.parametrize("token", ["", "   ", 12345, ["a"], True])
def test_a_metrics_token_that_is_not_a_string_stops_the_start(make_app, token):
    with pytest.raises(ConfigError, match="METRICS_TOKEN"):
        production_app(make_app, METRICS_TOKEN=token)


@pytest.mark.parametrize("endpoint", ["collector:4318", "ftp://x", "http://"])
def test_an_otlp_endpoint_that_is_not_a_url_stops_the_start(make_app, endpoint):
    with pytest.raises(ConfigError, match="OTLP_ENDPOINT"):
        make_app(OTLP_ENDPOINT=endpoint)


# A child process in multiprocess mode: a count before a fork, one in the forked
# child, one in the parent after the child is gone; then the summed exposition.
FORKED = """
import os, sys
from myapp.api import metrics
answered = metrics.REQUEST_DURATION.labels("GET", "/forked", "200")
answered.observe(0.001)
child = os.fork()
if child == 0:
    answered.observe(0.001)
    os._exit(0)
os.waitpid(child, 0)
answered.observe(0.001)
sys.stdout.write(metrics.exposition().decode())
"""


def exposed_by_process_of_its_own(code, directory):
    """{(name, labels as sorted tuple): value} of the exposition ``code`` writes,
    run in multiprocess mode with its files in ``directory``."""
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=dict(os.environ, PROMETHEUS_MULTIPROC_DIR=str(directory)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(result.stdout)
        for sample in family.samples
    }


def test_a_forked_process_counts_in_files_of_its_own(tmp_path):
    """Each process writes its own file: a child forked after counting neither
    overwrites its parent's values nor loses its own."""
    found = exposed_by_process_of_its_own(FORKED, tmp_path)
    counts = [
        count
        for (name, labels), count in found.items()
        if name == "http_requests_total" and dict(labels)["route"] == "/forked"
    ]
    assert counts == [3.0]
    assert len(list(tmp_path.glob("histogram_*.db"))) == 2


# Threads of one worker (production runs 4) observing one series at once, as the
# middleware does, the interpreter switching between them as often as it can.
THREADED = """
import sys, threading
from myapp.api import metrics, metrics_values
sys.setswitchinterval(1e-6)
series = metrics.REQUEST_DURATION.labels("GET", "/threaded", "200")
observe = metrics_values.observer(series)

def answer():
    for _ in range(5000):
        observe(0.25)

threads = [threading.Thread(target=answer) for _ in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
sys.stdout.write(metrics.exposition().decode())
"""


def test_threads_observing_one_series_lose_no_count(tmp_path):
    """Every observation counted, once, and one equal to a bucket's bound in
    that bucket (le is "less than or equal")."""
    found = exposed_by_process_of_its_own(THREADED, tmp_path)
    route = (("method", "GET"), ("route", "/threaded"), ("status", "200"))
    assert found[("http_requests_total", route)] == 40000
    assert found[("http_request_duration_seconds_sum", route)] == 10000
    bucket = (("le", "0.25"), *route)
    assert found[("http_request_duration_seconds_bucket", bucket)] == 40000


# Series made until the process's histogram file outgrows its first map (64 KiB,
# mapped anew when full), the first series written before and after.
GROWN = """
import sys
from myapp.api import metrics, metrics_values
def observer(route):
    return metrics_values.observer(metrics.REQUEST_DURATION.labels("GET", route, "200"))
first = observer("/first")
first(0.01)
for n in range(400):
    observer(f"/r{n}")(0.5)
first(0.01)
sys.stdout.write(metrics.exposition().decode())
"""


def test_series_count_on_after_their_file_grows(tmp_path):
    found = exposed_by_process_of_its_own(GROWN, tmp_path)
    (histogram,) = tmp_path.glob("histogram_*.db")
    assert histogram.stat().st_size > 1 << 16
    first = (("method", "GET"), ("route", "/first"), ("status", "200"))
    last = (("method", "GET"), ("route", "/r399"), ("status", "200"))
    assert found[("http_requests_total", first)] == 2
    assert found[("http_request_duration_seconds_sum", first)] == 0.02
    assert found[("http_requests_total", last)] == 1
    assert found[("http_request_duration_seconds_sum", last)] == 0.5


# A worker in multiprocess mode stuck in a request until it is killed (as
# harakiri or the OOM killer would), and a scrape from another process.
STUCK = """
import sys
from myapp.api import metrics

def stuck(environ, start_response):
    sys.stdout.write("answering\\n")
    sys.stdout.flush()
    sys.stdin.read()

metrics.RequestMetrics(stuck)({"REQUEST_METHOD": "GET"}, None)
"""
SCRAPE = """
import sys
from myapp.api import metrics

sys.stdout.write(metrics.exposition().decode())
"""


def test_a_worker_killed_in_a_request_is_no_longer_in_flight(tmp_path):
    """In flight while its worker lives; forgotten once the worker is killed, and
    never counted as answered."""
    with subprocess.Popen(
        [sys.executable, "-c", STUCK],
        cwd=ROOT,
        env=dict(os.environ, PROMETHEUS_MULTIPROC_DIR=str(tmp_path)),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as worker:
        try:
            assert worker.stdout.readline() == "answering\n"
            during = exposed_by_process_of_its_own(SCRAPE, tmp_path)
        finally:
            worker.kill()
    after = exposed_by_process_of_its_own(SCRAPE, tmp_path)
    assert value(during, "http_requests_in_flight") == 1
    assert value(after, "http_requests_in_flight") == 0
    assert not [key for key in after if key[0] == "http_requests_total"]


def test_a_refused_write_is_counted_under_its_rule(make_app):
    """A 401 from the token check still matched a rule: labelled by it."""
    app = make_app(API_TOKENS=[API_TOKEN])
    client = app.test_client()
    before = samples(client)
    assert client.post("/v1/bar/", json={"name": "refused"}).status_code == 401
    after = samples(client)
    labels = {"method": "POST", "route": "/v1/bar/", "status": "401"}
    assert (
        value(after, "http_requests_total", **labels)
        - value(before, "http_requests_total", **labels)
        == 1
    )
