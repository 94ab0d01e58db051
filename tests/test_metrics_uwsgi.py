"""/metrics under uWSGI: two worker processes summed, recycled workers, promtool, and
a real Prometheus server scraping the service.

One uWSGI server for the module, started as production runs it (myapp.ini, plus
--http-socket on a free loopback port), with one thread per worker so that
concurrent requests must spread over both workers, and workers recycled after a
few requests (max-requests) so that counting across recycling is tested too.
Its metrics directory is given (PROMETHEUS_MULTIPROC_DIR) and holds a previous
run's counts at the start, which the master must throw away.

The service's SQL is a SQLite file of its own: the behaviour is uWSGI's and
prometheus_client's, not the database's, so this runs in the SQLite pass only.
Prometheus and promtool are Debian's `prometheus` package (`make test` installs it).
"""

import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import pytest
from flask_migrate import upgrade
from prometheus_client.parser import text_string_to_metric_families

from myapp import create_app
from scripts.harness import (
    Processes,
    find_binary,
    free_port,
    start_prometheus,
    start_uwsgi,
    wait_until,
)

ROOT = Path(__file__).resolve().parent.parent
METRICS_TOKEN = "scrape-token-for-tests"
API_TOKEN = "write-token-for-tests"
REQUESTS = 120
MAX_REQUESTS = 25
STALE_COUNT = 1000

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("TEST_DATABASE_URL")),
    reason="uWSGI's and Prometheus's behaviour: run in the SQLite pass only",
)


def call(port, method, path, body=None, headers=None, timeout=10):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, body, headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def write_stale_counts(directory):
    """A previous run's file: 1000 GETs of /health, as a dead worker left them."""
    code = (
        "from myapp.api import metrics\n"
        "answered = metrics.REQUEST_DURATION.labels('GET', '/health', '200')\n"
        f"for _ in range({STALE_COUNT}):\n"
        "    answered.observe(0.001)\n"
    )
    env = dict(os.environ, PROMETHEUS_MULTIPROC_DIR=str(directory))
    subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, check=True, timeout=60
    )
    assert list(directory.glob("histogram_*.db"))


class Server:
    def __init__(self, work, redis_url):
        self.work = work
        self.port = free_port()
        self.metrics_dir = work / "metrics"
        self.metrics_dir.mkdir()
        database = f"sqlite:///{work / 'service.db'}"
        app = create_app({"SQLALCHEMY_DATABASE_URI": database, "REDIS_URL": redis_url})
        with app.app_context():
            upgrade()
        write_stale_counts(self.metrics_dir)
        env = {k: v for k, v in os.environ.items() if not k.startswith("MYAPP_")}
        env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
        env.update(
            MYAPP_ENV="production",
            MYAPP_SQLALCHEMY_DATABASE_URI=database,
            MYAPP_REDIS_URL=redis_url,
            MYAPP_REDIS_KEY_PREFIX="metrics-uwsgi:",
            MYAPP_API_TOKENS=API_TOKEN,
            MYAPP_METRICS_TOKEN=METRICS_TOKEN,
            MYAPP_ACCESS_LOG="false",
            MYAPP_SOCKET=str(work / "uwsgi.sock"),
            MYAPP_PROCESSES="2",
            MYAPP_THREADS="1",
            MYAPP_MAX_REQUESTS=str(MAX_REQUESTS),
            PROMETHEUS_MULTIPROC_DIR=str(self.metrics_dir),
        )
        # Every worker recycles after exactly MAX_REQUESTS, however young.
        self.processes = Processes()
        self.uwsgi = start_uwsgi(
            self.processes,
            "uwsgi",
            env,
            work / "uwsgi.log",
            http_port=self.port,
            extra=["--max-requests-delta", "0", "--min-worker-lifetime", "0"],
            ready_path=None,
        )
        self.process = self.uwsgi.process
        self.uwsgi.wait_ready(timeout=90, check=self.both_workers_serve)

    def both_workers_serve(self):
        return call(self.port, "GET", "/health")[0] == 200 and len(self.workers()) == 2

    def workers(self):
        """The master's children: the worker processes alive now."""
        pids = []
        for task in Path(f"/proc/{self.process.pid}/task").iterdir():
            pids += (task / "children").read_text().split()
        return sorted(map(int, pids))

    def scrape(self, token=METRICS_TOKEN):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return call(self.port, "GET", "/metrics", headers=headers)

    def samples(self):
        status, headers, body = self.scrape()
        assert status == 200, body
        found = {}
        for family in text_string_to_metric_families(body.decode()):
            for sample in family.samples:
                found[(sample.name, tuple(sorted(sample.labels.items())))] = sample
        return found

    def stop(self):
        self.processes.stop_all()


@pytest.fixture(scope="module")
def server(tmp_path_factory, redis_server):
    running = Server(tmp_path_factory.mktemp("metrics-uwsgi"), redis_server.url)
    yield running
    running.stop()


def requests_of(samples, route_prefix, status):
    return sum(
        sample.value
        for (name, labels), sample in samples.items()
        if name == "http_requests_total"
        and dict(labels)["route"].startswith(route_prefix)
        and dict(labels)["status"] == status
    )


def test_counts_are_exact_over_workers_and_recycling(server):
    status, _, body = call(
        server.port,
        "POST",
        "/v1/foo/",
        json.dumps({"name": "counted"}),
        {"Content-Type": "application/json", "Authorization": f"Bearer {API_TOKEN}"},
    )
    assert status == 201, body
    path = f"/v1/foo/{json.loads(body)['id']}"
    first_workers = server.workers()

    def get(_):
        return call(server.port, "GET", path)[0]

    with ThreadPoolExecutor(4) as pool:
        statuses = list(pool.map(get, range(REQUESTS)))
    assert statuses == [200] * REQUESTS
    missing = [call(server.port, "GET", "/v1/foo/2000000000")[0] for _ in range(3)]
    assert missing == [404] * 3

    # Both first workers were recycled, the others too (MAX_REQUESTS each).
    assert not set(first_workers) & set(server.workers())
    before_scrape = server.workers()
    found = server.samples()
    assert requests_of(found, "/v1/foo/<", "200") == REQUESTS
    assert requests_of(found, "/v1/foo/<", "404") == 3
    assert requests_of(found, "/v1/foo/", "201") == 1
    # The previous run's 1000 were thrown away when the server started.
    assert requests_of(found, "/health", "200") < STALE_COUNT
    # The scrape folded the dead workers' files into the archives, and
    # mark_process_dead removed their gauge files: files of live workers only.
    files = {path.stem for path in server.metrics_dir.glob("*.db")}
    live = {str(pid) for pid in before_scrape + server.workers()}
    assert {"counter_archive", "histogram_archive"} <= files
    assert {name.rsplit("_", 1)[1] for name in files} <= live | {"archive"}, files
    # Only the scrape itself is in flight.
    assert found[("http_requests_in_flight", ())].value == 1
    sql_gets = found[
        ("store_call_duration_seconds_count", (("operation", "get"), ("store", "sql")))
    ]
    assert sql_gets.value == REQUESTS + 3


def test_a_killed_worker_is_forgotten_by_the_gauges_and_its_counts_kept(server):
    victim = server.workers()[0]
    before = requests_of(server.samples(), "/v1/foo/<", "200")
    os.kill(victim, signal.SIGKILL)
    wait_until(lambda: victim not in server.workers(), "the kill", 10)
    wait_until(server.both_workers_serve, "a new worker", 60, server.process)
    found = server.samples()
    # Its gauges forgotten, its counts folded into the archives, none lost.
    assert not list(server.metrics_dir.glob(f"*_{victim}.db"))
    assert found[("http_requests_in_flight", ())].value == 1
    assert requests_of(found, "/v1/foo/<", "200") == before


def test_production_metrics_need_the_token(server):
    for token in (None, "wrong", API_TOKEN):
        status, headers, body = server.scrape(token)
        assert status == 401
        assert headers["WWW-Authenticate"] == "Bearer"
        assert headers["Content-Type"] == "application/problem+json"


def find_tool(name):
    found = find_binary(name, "/usr/bin")
    if found is None:
        pytest.skip(f"{name} is not installed (Debian: apt-get install prometheus)")
    return found


def test_exposition_passes_promtool(server):
    status, headers, body = server.scrape()
    assert status == 200
    assert headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    result = subprocess.run(
        [find_tool("promtool"), "check", "metrics"],
        input=body,
        capture_output=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout + result.stderr == b""


def test_example_alerts_pass_promtool():
    rules = ROOT / "deploy" / "prometheus-alerts.yml"
    result = subprocess.run(
        [find_tool("promtool"), "check", "rules", str(rules)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 3 rules found" in result.stdout


def query(port, promql):
    status, _, body = call(port, "GET", "/api/v1/query?query=" + quote(promql))
    assert status == 200, body
    document = json.loads(body)
    assert document["status"] == "success", document
    return document["data"]["result"]


def test_prometheus_scrapes_the_service_and_answers_a_rate(server, tmp_path):
    find_tool("prometheus")
    token_file = tmp_path / "token"
    token_file.write_text(METRICS_TOKEN)
    config = tmp_path / "prometheus.yml"
    config.write_text(
        (ROOT / "deploy" / "prometheus.yml")
        .read_text()
        .replace("/etc/prometheus/myapp-metrics-token", str(token_file))
        .replace("127.0.0.1:8081", f"127.0.0.1:{server.port}")
        .replace("scrape_interval: 15s", "scrape_interval: 1s")
    )
    assert str(token_file) in config.read_text()
    shutil.copy(
        ROOT / "deploy" / "prometheus-alerts.yml", tmp_path / "myapp-alerts.yml"
    )
    with Processes() as processes:
        prometheus = start_prometheus(processes, tmp_path, config)
        port, process = prometheus.port, prometheus.process
        wait_until(
            lambda: [r["value"][1] for r in query(port, 'up{job="myapp"}')] == ["1"],
            "a successful scrape",
            30,
            process,
        )
        deadline = time.monotonic() + 30
        rate = []
        while time.monotonic() < deadline:
            for _ in range(10):
                assert call(server.port, "GET", "/health")[0] == 200
            rate = query(
                port,
                'sum(rate(http_requests_total{job="myapp",route="/health"}[5s]))',
            )
            if rate and float(rate[0]["value"][1]) > 0:
                break
            time.sleep(0.5)
        assert rate and float(rate[0]["value"][1]) > 0, rate
        found = query(port, 'myapp_build_info{job="myapp"}')
        assert found and found[0]["metric"]["version"] == "1.1.0"
        status, _, body = call(port, "GET", "/api/v1/rules")
        groups = json.loads(body)["data"]["groups"]
        assert [rule["name"] for rule in groups[0]["rules"]] == [
            "MyappErrorRatioHigh",
            "MyappLatencyP99High",
            "MyappNotReady",
        ]
        assert all(rule["health"] != "err" for rule in groups[0]["rules"])
