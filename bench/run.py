"""`make bench`: the service under uWSGI beside its references, with wrk.

Starts a private PostgreSQL and redis-server, the service under uWSGI with the
production myapp.ini plus --http-socket on a free loopback port, the ceiling
(bench/ceiling.py) and bench/bare.py under the same flags, and
bench/fastapi_app.py on uvicorn (uvloop, httptools, 2 workers); seeds foos and
bars through the API (what create runs add is removed after each); warms up;
measures each worker's RSS before and after 20,000 more requests; then runs every
scenario for ROUNDS rounds, interleaved: in each round, a ceiling run, then the
scenario on the service and on each server it is compared with (bare Flask,
FastAPI, the twins below), taking turns (see SLICES). It prints the table: "x
bare" and "x FastAPI" are medians over rounds of the service's req/s over the
reference's in the same round, "p99 x bare" likewise of p99s, and the ceiling
ratio of req/s over the ceiling's just before; p50 and p99 are medians over
rounds. A second table gives each server's CPU time per
request (its processes' user + system time over a run's requests): on a shared
machine req/s also measures the share of the CPUs a server got, CPU per request
only what a request costs. Every process it starts is stopped by its id, whatever
happens.

Settings (environment): BENCH_DURATION (seconds per scenario run, 6),
BENCH_CEILING_DURATION (4), BENCH_ROUNDS (5, as issue 18 measures),
BENCH_CONNECTIONS (16), BENCH_THREADS (uWSGI threads per worker, 1), BENCH_SEED
(records of each kind, 1000), BENCH_REFERENCE (1: also measure bench/bare.py and
bench/fastapi_app.py; 0: the service and the ceiling only), BENCH_METRICS_OFF
(1: also run the service with MYAPP_METRICS_ENABLED=false on the same stores,
taking turns with the service in each round: on/off is the median over rounds
of their req/s ratio), BENCH_BASELINE (a commit: also serve the service as it
was at that commit, from `git archive`, on a database and a Redis key prefix of
its own, seeded alike, taking turns with the service: "x baseline" is the median
of the service's req/s over its), BENCH_SLICES (3).

The service is compared within a few percent (with bare Flask, with its twins:
the service's own code with metrics off, or at the baseline): each round's run of
a scenario is cut into SLICES slices, and the service and every server compared
with it take turns slice by slice, the order reversed at each (twins, service,
bare, FastAPI; FastAPI, bare, service, twins; ...): the service always runs next
to its twins and to bare Flask, its closest comparisons. A change in the machine's
speed during the run, which another tenant of the host can make by 20% for
minutes, then falls on all of them alike instead of on whichever ran last. Their
figures sum the slices': requests, time and CPU; p50 and p99 are the median
slice's.
"""

import dataclasses
import datetime
import http.client
import json
import os
import platform
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import redis
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts.harness import (  # noqa: E402
    Database,
    Processes,
    Stop,
    free_port,
    http_status,
    log,
    start_redis,
    start_uwsgi,
    stop_on_signals,
    wait_until,
    work_folder,
)

VENV_BIN = ROOT / "venv" / "bin"
RESULTS = ROOT / "bench" / "results"
SCRIPT = ROOT / "bench" / "scenario.lua"

SCENARIOS = ["get_foo", "list_foo", "create_foo", "get_bar", "list_bar", "create_bar"]
# The ratio to the ceiling a bare Flask app doing only the store work reached.
TARGETS = {
    "get_foo": 0.08,
    "list_foo": 0.04,
    "create_foo": 0.06,
    "get_bar": 0.18,
    "list_bar": 0.11,
    "create_bar": 0.13,
}
P99_LIMIT_MS = 50
# Issue 18: the service against the references in the same rounds. Req/s at least
# the bare app's (0.95 is noise at 5 rounds) and 1.5 times FastAPI's; p99 at most
# the bare app's.
BARE_TARGET = 0.95
FASTAPI_TARGET = 1.5
P99_BARE_TARGET = 1.0
MEMORY_REQUESTS = 20_000
# Where the service (and bench/bare.py) keep bars: REDIS_KEY_PREFIX + "bar:".
BAR_KEYS = "myapp:bar:"
MEMORY_GROWTH_LIMIT = 0.05
WRK_THREADS = 2
# uWSGI's http-socket closes the connection after each response without saying so;
# wrk would count every close as a read error. Saying so makes wrk reconnect itself
# (it still opens one connection per request, as nginx does to uWSGI in production).
UWSGI_HTTP_FLAGS = ["--add-header", "Connection: close"]


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def setting(name, default):
    return int(os.environ.get(f"BENCH_{name}", default))


DURATION = setting("DURATION", 6)
CEILING_DURATION = setting("CEILING_DURATION", 4)
ROUNDS = setting("ROUNDS", 5)
CONNECTIONS = setting("CONNECTIONS", 16)
UWSGI_THREADS = setting("THREADS", 1)
SEED = setting("SEED", 1000)
# Also measure the references: bench/bare.py, a bare Flask app doing only the
# storage work, and bench/fastapi_app.py, the same work in FastAPI.
REFERENCE = setting("REFERENCE", 1)
REFERENCES = ("bare", "fastapi")
# Also measure the service with its metrics switched off.
METRICS_OFF = setting("METRICS_OFF", 1)
# Metrics on may cost at most this share of the req/s of metrics off.
METRICS_COST_LIMIT = 0.05
# Also measure the service as it was at this commit (e.g. before a change).
BASELINE = os.environ.get("BENCH_BASELINE", "")
# Servers that take turns with the service in each round, compared with it.
TWINS = (("metrics_off",) if METRICS_OFF else ()) + (("baseline",) if BASELINE else ())
SLICES = setting("SLICES", 3)
# wrk takes whole seconds.
SLICE_DURATION = max(1, round(DURATION / SLICES))
# The whole run stops here whatever is left: the rounds' runs plus ten minutes
# for the start, the seeding, the warm-up and the memory run (about 18 minutes at
# 5 rounds with the references and the metrics-off twin).
RUNS_PER_SCENARIO = 1 + 2 * REFERENCE + len(TWINS)
TIME_BUDGET = 600 + ROUNDS * len(SCENARIOS) * (
    CEILING_DURATION
    + 2
    + RUNS_PER_SCENARIO * (DURATION + 2 * (SLICES if RUNS_PER_SCENARIO > 1 else 1))
)


def service_environment(database_url, redis_url, token):
    """Production settings (MYAPP_ENV unset), with the bench's stores and tuning."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MYAPP_", "FLASK_"))
    }
    environment.update(
        FLASK_APP="myapp",
        MYAPP_SQLALCHEMY_DATABASE_URI=database_url,
        MYAPP_REDIS_URL=redis_url,
        MYAPP_API_TOKENS=token,
        MYAPP_ACCESS_LOG="false",
        MYAPP_PROCESSES="2",
        MYAPP_THREADS=str(UWSGI_THREADS),
        # No worker is recycled during the run: RSS is measured.
        MYAPP_MAX_REQUESTS="100000000",
    )
    return environment


def start_bench_uwsgi(processes, name, environment, workdir, extra=(), checkout=ROOT):
    """uWSGI with the production ini (``checkout``'s), an HTTP socket and the
    bench's flags; returned (process, HTTP port) once ``name``'s page answers."""
    server = start_uwsgi(
        processes,
        name,
        dict(environment, MYAPP_SOCKET=str(workdir / f"{name}.sock")),
        workdir / f"{name}.log",
        ready_path={"ceiling": "/", "bare": "/v1/bar/"}.get(name, "/health"),
        http_port=free_port(),
        extra=[*UWSGI_HTTP_FLAGS, *extra],
        checkout=checkout,
    )
    return server.process, server.http_port


@dataclasses.dataclass
class Stores:
    """Where a server keeps its records, and the last foo seeded there."""

    database_url: str
    bar_keys: str
    last_seeded_foo: int = 0


def migrate(checkout, environment):
    """``flask db upgrade`` with ``checkout``'s migrations."""
    subprocess.run(
        [str(VENV_BIN / "flask"), "db", "upgrade"],
        cwd=checkout,
        env=environment,
        check=True,
        capture_output=True,
        timeout=120,
    )


def create_database(server_url, name):
    """A new database on the server of ``server_url``; its URL."""
    engine = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    url = sa.engine.make_url(server_url).set(database=name)
    return url.render_as_string(hide_password=False)


def start_fastapi(processes, environment, workdir):
    """bench/fastapi_app.py on uvicorn: uvloop, httptools, 2 workers, no access log."""
    port = free_port()
    command = [str(VENV_BIN / "uvicorn"), "fastapi_app:app"]
    command += ["--app-dir", str(ROOT / "bench"), "--host", "127.0.0.1"]
    command += ["--port", str(port), "--workers", "2", "--loop", "uvloop"]
    command += ["--http", "httptools", "--no-access-log", "--log-level", "warning"]
    process = processes.start(
        "fastapi", command, workdir / "fastapi.log", cwd=ROOT, env=environment
    )
    wait_until(lambda: http_status(port, "/v1/bar/") == 200, "fastapi", 60, process)
    return process, port


def seed(port, token, feature, count):
    """Create ``count`` records through the API; their ids, one per line."""
    headers = {
        "Content-Type": "application/json",
        "Authorization": f"Bearer {token}",
    }
    ids = []
    for number in range(count):
        body = json.dumps({"name": f"{feature} {number}"})
        # uWSGI's http-socket closes the connection after each response.
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("POST", f"/v1/{feature}/", body, headers)
        response = connection.getresponse()
        document = json.loads(response.read())
        connection.close()
        if response.status != 201:
            raise RuntimeError(f"seeding {feature}: {response.status} {document}")
        ids.append(str(document["id"]))
    return ids


def wrk(port, kind, duration, ids_files, token, stop_after=None):
    command = [
        "wrk",
        "-t",
        str(WRK_THREADS),
        "-c",
        str(CONNECTIONS),
        "-d",
        f"{duration}s",
        "--timeout",
        "5s",
        "-s",
        str(SCRIPT),
        f"http://127.0.0.1:{port}/",
        "--",
        kind,
        *map(str, ids_files),
        token,
    ]
    if stop_after is not None:
        command.append(str(stop_after))
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=duration + 30, check=True
    )
    for line in result.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            figures = json.loads(line.removeprefix("BENCH_JSON "))
            figures["rps"] = figures["requests"] / (figures["duration_us"] / 1e6)
            figures["errors"] = sum(
                figures[name]
                for name in (
                    "connect_errors",
                    "read_errors",
                    "write_errors",
                    "status_errors",
                    "timeouts",
                )
            )
            return figures
    raise RuntimeError(f"wrk printed no figures:\n{result.stdout}\n{result.stderr}")


def worker_pids(master):
    children = []
    for task in Path(f"/proc/{master}/task").iterdir():
        children += (task / "children").read_text().split()
    return sorted(int(pid) for pid in children)


def process_tree(pid):
    """``pid`` and every process below it (a master and its workers)."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        try:
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += map(int, (task / "children").read_text().split())
        except FileNotFoundError:
            pass
    return found


def cpu_seconds(pid):
    """User and system CPU time of ``pid`` and its descendants, every thread."""
    ticks = 0
    for member in process_tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / CLOCK_TICKS


def rss_kib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def worker_rss(master):
    return {pid: rss_kib(pid) for pid in worker_pids(master)}


def machine():
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    memory_kib = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            memory_kib = int(line.split()[1])
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "ram_gib": round(memory_kib / 1024 / 1024, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def load_average():
    return [round(value, 2) for value in os.getloadavg()]


def combined(slices):
    """One run's figures from its slices: counts, time and CPU summed, latency
    percentiles the median slice's."""
    figures = {
        name: sum(piece[name] for piece in slices)
        for name in ("requests", "duration_us", "errors")
    }
    figures["rps"] = figures["requests"] / (figures["duration_us"] / 1e6)
    for name in ("p50_us", "p90_us", "p99_us", "mean_us"):
        figures[name] = statistics.median(piece[name] for piece in slices)
    figures["max_us"] = max(piece["max_us"] for piece in slices)
    if all("cpu_us" in piece for piece in slices):
        spent = sum(piece["cpu_us"] * piece["requests"] for piece in slices)
        figures["cpu_us"] = spent / max(figures["requests"], 1)
    return figures


def summarise(samples):
    rates = [sample["rps"] for sample in samples]
    return {
        "rps_median": statistics.median(rates),
        "rps_min": min(rates),
        "rps_max": max(rates),
        "p50_ms": statistics.median(s["p50_us"] for s in samples) / 1000,
        "p99_ms": statistics.median(s["p99_us"] for s in samples) / 1000,
        "p99_ms_worst": max(s["p99_us"] for s in samples) / 1000,
        "errors": sum(s["errors"] for s in samples),
        "cpu_us": statistics.median(s.get("cpu_us", 0) for s in samples),
        "samples": samples,
    }


def print_table(report):
    ceiling = report["ceiling"]
    reference = report["settings"]["reference"]
    metrics_off = report["settings"].get("metrics_off")
    lines = [
        f"{'scenario':<11} {'req/s':>8} {'min-max':>13} {'p50 ms':>7} {'p99 ms':>7}"
        f" {'ratio':>6} {'target':>6}"
        + (
            f" {'x bare':>6} {'x FastAPI':>9} {'p99 x bare':>10}"
            f" {'bare req/s':>10} {'FastAPI req/s':>13} {'bare p99':>8}"
            if reference
            else ""
        )
        + (f" {'off req/s':>9} {'on/off':>6}" if metrics_off else "")
        + "  verdict",
        f"{'ceiling':<11} {ceiling['rps_median']:>8.0f}"
        f" {ceiling['rps_min']:>6.0f}-{ceiling['rps_max']:<6.0f}"
        f" {ceiling['p50_ms']:>7.2f} {ceiling['p99_ms']:>7.2f} {1:>6.3f}",
    ]
    for name in SCENARIOS:
        result = report["scenarios"][name]
        verdict = "met" if result["met"] else "NOT MET"
        if result["errors"]:
            verdict += f" ({result['errors']} errors)"
        bare = ""
        if reference:
            bare = (
                f" {result['x_bare']:>6.2f} {result['x_fastapi']:>9.2f}"
                f" {result['p99_x_bare']:>10.2f}"
                f" {result['bare']['rps_median']:>10.0f}"
                f" {result['fastapi']['rps_median']:>13.0f}"
                f" {result['bare']['p99_ms']:>8.2f}"
            )
        if metrics_off:
            off = result["metrics_off"]["rps_median"]
            bare += f" {off:>9.0f} {result['on_off']:>6.3f}"
            if not result["metrics_cost_met"]:
                verdict += f" (metrics cost over {METRICS_COST_LIMIT:.0%})"
        lines.append(
            f"{name:<11} {result['rps_median']:>8.0f}"
            f" {result['rps_min']:>6.0f}-{result['rps_max']:<6.0f}"
            f" {result['p50_ms']:>7.2f} {result['p99_ms']:>7.2f}"
            f" {result['ratio']:>6.3f} {TARGETS[name]:>6.2f}{bare}  {verdict}"
        )
    print("\n".join(lines))
    memory = report["memory"]
    print(f"\nRSS per worker (MiB), warm -> after {MEMORY_REQUESTS} more requests:")
    for pid, (before, after) in memory["workers"].items():
        growth = (after - before) / before
        print(
            f"  worker {pid}: {before / 1024:.1f} -> {after / 1024:.1f} ({growth:+.1%})"
        )
    print(
        f"  largest growth {memory['max_growth']:+.1%}"
        f" (limit +{MEMORY_GROWTH_LIMIT:.0%}): {'met' if memory['met'] else 'NOT MET'}"
    )
    info = report["machine"]
    print(
        f"\nMachine: {info['nproc']} CPUs ({info['cpu']}), {info['ram_gib']} GiB RAM;"
        f" load average {report['load_before']} before, {report['load_after']} after."
    )
    settings = report["settings"]
    print(
        f"uWSGI: 2 processes x {settings['uwsgi_threads']} thread(s); wrk:"
        f" {CONNECTIONS} connections; {settings['rounds']} rounds of ceiling"
        f" {settings['ceiling_duration_s']} s then scenario {settings['duration_s']} s."
        "\nratio: median over rounds of req/s / the ceiling's just before;"
        " p50, p99: medians over rounds."
    )
    if reference:
        print(
            "x bare, x FastAPI, p99 x bare: medians over rounds of the service's"
            " req/s (p99) over the reference's in the same round; targets:"
            f" x bare >= {BARE_TARGET}, x FastAPI >= {FASTAPI_TARGET},"
            f" p99 x bare <= {P99_BARE_TARGET}, p99 < {P99_LIMIT_MS} ms."
        )
    if metrics_off:
        print(
            "off req/s, on/off: the service with metrics off, taking turns with the"
            " service in each round, and the median over rounds of req/s with"
            f" metrics on / off (limit {1 - METRICS_COST_LIMIT:.2f})."
        )
    others = [
        server
        for server in ("bare", "fastapi", "metrics_off", "baseline")
        if server in report["scenarios"][SCENARIOS[0]]
    ]
    if others:
        print(
            f"\n{'CPU per request':<15} {'service us':>10}"
            + "".join(f" {server + ' us':>14}" for server in others)
            + "".join(f" {'x ' + server:>13}" for server in others)
        )
        for name in SCENARIOS:
            result = report["scenarios"][name]
            print(
                f"{name:<15} {result['cpu_us']:>10.0f}"
                + "".join(f" {result[server]['cpu_us']:>14.0f}" for server in others)
                + "".join(f" {result['cpu_x_' + server]:>13.2f}" for server in others)
            )
        print(
            "CPU per request: the server's processes' user + system time over its"
            " requests (median over rounds); x: the other's over the service's,"
            " round by round (above 1: the service spends less)."
        )
    if "baseline" in others:
        print(
            f"\nThe service against itself at {report['settings']['baseline']}"
            " (baseline), taking turns with it in each round:"
        )
        print(f"{'scenario':<11} {'baseline req/s':>14} {'x baseline':>10}")
        for name in SCENARIOS:
            result = report["scenarios"][name]
            print(
                f"{name:<11} {result['baseline']['rps_median']:>14.0f}"
                f" {result['x_baseline']:>10.2f}"
            )
        print(
            "x baseline: median over rounds of the service's req/s over the baseline's."
        )
    missed = [name for name in SCENARIOS if not report["scenarios"][name]["met"]]
    if missed:
        print("Targets not met: " + ", ".join(missed))
    else:
        print("Every target met.")


class Bench:
    """The stores, the uWSGI servers and the seeded ids of one run."""

    def __init__(self, workdir, processes):
        self.workdir = workdir
        self.processes = processes
        self.database = Database("postgres", workdir / "pg")
        self.token = secrets.token_urlsafe(24)

    def start(self):
        log("starting PostgreSQL and redis-server")
        self.database.start()
        self.database_url = database_url = self.database.url
        redis_server = start_redis(self.processes, self.workdir)
        self.redis_url = redis_url = redis_server.url
        environment = service_environment(database_url, redis_url, self.token)
        migrate(ROOT, environment)
        log(f"starting the servers (uWSGI, 2 processes x {UWSGI_THREADS} threads)")
        self.service, service_port = start_bench_uwsgi(
            self.processes, "service", environment, self.workdir
        )
        self.ports = {"service": service_port}
        # Each server's master, whose process tree's CPU time each run reads.
        self.pids = {"service": self.service.pid}
        # Where each server keeps its records (the references share the service's).
        self.stores = {"service": Stores(database_url, BAR_KEYS)}
        if METRICS_OFF:
            process, self.ports["metrics_off"] = start_bench_uwsgi(
                self.processes,
                "metrics_off",
                dict(environment, MYAPP_METRICS_ENABLED="false"),
                self.workdir,
            )
            self.pids["metrics_off"] = process.pid
        if BASELINE:
            self.start_baseline()
        # The ceiling and the reference: the same ini and flags, another module.
        others = {"ceiling": "ceiling:app"}
        if REFERENCE:
            others["bare"] = "bare:app"
        for name, module in others.items():
            extra = ["--pythonpath", str(ROOT / "bench"), "--module", module]
            process, self.ports[name] = start_bench_uwsgi(
                self.processes, name, environment, self.workdir, extra
            )
            self.pids[name] = process.pid
        if REFERENCE:
            process, self.ports["fastapi"] = start_fastapi(
                self.processes, environment, self.workdir
            )
            self.pids["fastapi"] = process.pid
        self.service_port = service_port
        log(f"seeding {SEED} foos and {SEED} bars through the API")
        self.ids_files = {}
        for server in self.stores:
            self.ids_files[server] = self.seed(server)

    def start_baseline(self):
        """The service as it was at BASELINE, on stores of its own, under uWSGI."""
        checkout = self.workdir / "baseline"
        checkout.mkdir()
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", BASELINE],
            capture_output=True,
            check=True,
            timeout=60,
        )
        subprocess.run(
            ["tar", "-x", "-C", str(checkout)],
            input=archive.stdout,
            check=True,
            timeout=60,
        )
        database_url = create_database(self.database_url, "myapp_baseline")
        environment = dict(
            service_environment(database_url, self.redis_url, self.token),
            MYAPP_REDIS_KEY_PREFIX="baseline:",
        )
        migrate(checkout, environment)
        process, self.ports["baseline"] = start_bench_uwsgi(
            self.processes, "baseline", environment, self.workdir, checkout=checkout
        )
        self.pids["baseline"] = process.pid
        self.stores["baseline"] = Stores(database_url, "baseline:bar:")

    def seed(self, server):
        """Seed ``server``'s stores through its API; the files of the ids."""
        files = []
        for feature in ("foo", "bar"):
            path = self.workdir / f"{server}_{feature}_ids.txt"
            ids = seed(self.ports[server], self.token, feature, SEED)
            path.write_text("\n".join(ids) + "\n")
            files.append(path)
            if feature == "foo":
                self.stores[server].last_seeded_foo = max(map(int, ids))
        return files

    def trim(self, server):
        """Remove what create runs added, so every read sees the seeded records.

        Otherwise the faster a create run, the longer the list runs after it count.
        """
        stores = self.stores.get(server, self.stores["service"])
        engine = sa.create_engine(
            stores.database_url,
            poolclass=sa.pool.NullPool,
            isolation_level="AUTOCOMMIT",
        )
        with engine.connect() as connection:
            connection.execute(
                sa.text("DELETE FROM foo WHERE id > :id"),
                {"id": stores.last_seeded_foo},
            )
            connection.execute(sa.text("VACUUM ANALYZE foo"))
        engine.dispose()
        client = redis.Redis.from_url(self.redis_url)
        index = stores.bar_keys + "index"
        added = client.zrange(index, SEED, -1)
        for start in range(0, len(added), 1000):
            client.delete(
                *[stores.bar_keys.encode() + id for id in added[start : start + 1000]]
            )
        client.zremrangebyrank(index, SEED, -1)
        client.close()

    def measure(self, kind, duration=DURATION, server=None, **kwargs):
        """One wrk run of ``kind`` against the service (or the ceiling, the bare).

        Besides wrk's figures, the server's CPU time per request (its processes
        and threads, user and system): what a request costs whatever share of
        the CPUs the server got while other work shared the machine.
        """
        server = server or ("ceiling" if kind == "ceiling" else "service")
        port = self.ports[server]
        pid = self.pids.get(server)
        ids_files = self.ids_files.get(server, self.ids_files["service"])
        before = cpu_seconds(pid) if pid else None
        figures = wrk(port, kind, duration, ids_files, self.token, **kwargs)
        if pid:
            spent = cpu_seconds(pid) - before
            figures["cpu_us"] = spent * 1e6 / max(figures["requests"], 1)
        if kind.startswith("create_") or kind == "mixed":
            self.trim(server)
        return figures

    def measure_in_turns(self, kind, servers):
        """``kind`` on each of ``servers`` for DURATION, taking turns in SLICES
        slices, the order reversed at each (so neighbours stay neighbours)."""
        if len(servers) == 1:
            return {servers[0]: self.measure(kind, server=servers[0])}
        slices = {server: [] for server in servers}
        for index in range(SLICES):
            for server in servers if index % 2 == 0 else reversed(servers):
                run = self.measure(kind, SLICE_DURATION, server=server)
                slices[server].append(run)
        return {server: combined(runs) for server, runs in slices.items()}

    def wrk_command(self, kind, server="service"):
        """What to type to load the service by hand (--serve)."""
        port = self.ports[server]
        files = " ".join(map(str, self.ids_files["service"]))
        return (
            f"wrk -t {WRK_THREADS} -c {CONNECTIONS} -d 30s -s {SCRIPT}"
            f" http://127.0.0.1:{port}/ -- {kind} {files} {self.token}"
        )


def serve(bench):
    """Keep everything running for profiling by hand, until interrupted."""
    workers = " ".join(map(str, worker_pids(bench.service.pid)))
    lines = [f"service: http://127.0.0.1:{bench.service_port}/ (workers {workers})"]
    lines += [
        f"{name}: http://127.0.0.1:{port}/"
        for name, port in bench.ports.items()
        if name != "service"
    ]
    lines += [
        f"token: {bench.token}",
        f"stores: {bench.database_url} {bench.redis_url}",
        f"ids: {' '.join(map(str, bench.ids_files['service']))}",
        f"load: {bench.wrk_command('get_foo')}",
        "profile: venv/bin/py-spy record -p WORKER -d 20 -o profile.svg",
        "Ctrl-C stops everything.",
    ]
    print("\n".join(lines), flush=True)
    while True:
        time.sleep(3600)


def run(bench):
    started = time.monotonic()
    load_before = load_average()
    bench.start()
    log("warming up")
    compared = (*(REFERENCES if REFERENCE else ()), *TWINS)
    for kind in ["ceiling", *SCENARIOS]:
        bench.measure(kind, 2)
        for server in compared if kind != "ceiling" else ():
            bench.measure(kind, 2, server=server)
    rss_warm = worker_rss(bench.service.pid)
    log(f"memory: {MEMORY_REQUESTS} more requests, every scenario in turn")
    mixed = bench.measure(
        "mixed", 120, stop_after=MEMORY_REQUESTS // WRK_THREADS + CONNECTIONS
    )
    rss_after = worker_rss(bench.service.pid)
    growth = {pid: (rss_after[pid] - rss_warm[pid]) / rss_warm[pid] for pid in rss_warm}

    # The machine's load drifts (other work shares the CPUs): each scenario run
    # follows a ceiling run of its own, and its ratio is to that one.
    samples = {kind: [] for kind in ["ceiling", *SCENARIOS]}
    ratios = {kind: [] for kind in SCENARIOS}
    # The runs of each server the service is compared with (the references, the
    # twins), which take turns with it in each round, and their req/s over the
    # ceiling's just before.
    references = REFERENCES if REFERENCE else ()
    compared = {
        server: {
            "samples": {kind: [] for kind in SCENARIOS},
            "ratios": {kind: [] for kind in SCENARIOS},
        }
        for server in (*references, *TWINS)
    }

    def compare(server, kind, compared_run, ceiling_run):
        compared[server]["samples"][kind].append(compared_run)
        compared[server]["ratios"][kind].append(
            compared_run["rps"] / ceiling_run["rps"]
        )

    for round_number in range(1, ROUNDS + 1):
        log(f"round {round_number}/{ROUNDS}")
        for kind in SCENARIOS:
            if time.monotonic() - started > TIME_BUDGET:
                raise RuntimeError(f"over the time budget ({TIME_BUDGET} s)")
            ceiling_run = bench.measure("ceiling", CEILING_DURATION)
            samples["ceiling"].append(ceiling_run)
            # The service between its twins and bare Flask, the closest comparisons.
            order = (*TWINS, "service", *references)
            runs = bench.measure_in_turns(kind, order)
            run = runs["service"]
            samples[kind].append(run)
            ratios[kind].append(run["rps"] / ceiling_run["rps"])
            for server in (*references, *TWINS):
                compare(server, kind, runs[server], ceiling_run)

    ceiling = summarise(samples["ceiling"])
    report = {
        "when": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "machine": machine(),
        "load_before": load_before,
        "load_after": load_average(),
        "settings": {
            "uwsgi_processes": 2,
            "uwsgi_threads": UWSGI_THREADS,
            "connections": CONNECTIONS,
            "wrk_threads": WRK_THREADS,
            "duration_s": DURATION,
            "ceiling_duration_s": CEILING_DURATION,
            "rounds": ROUNDS,
            "seeded": SEED,
            "reference": bool(REFERENCE),
            "metrics_off": bool(METRICS_OFF),
            "slices": SLICES,
            "baseline": BASELINE or None,
        },
        "ceiling": ceiling,
        "scenarios": {},
        "memory": {
            "requests": mixed["requests"],
            "errors": mixed["errors"],
            "workers": {
                str(pid): (rss_warm[pid], rss_after.get(pid, 0)) for pid in rss_warm
            },
            "max_growth": max(growth.values()),
            "met": max(growth.values()) < MEMORY_GROWTH_LIMIT,
        },
        "seconds": round(time.monotonic() - started),
    }
    for name in SCENARIOS:
        result = summarise(samples[name])
        result["ratios"] = ratios[name]
        result["ratio"] = statistics.median(ratios[name])
        for server, runs in compared.items():
            reference = result[server] = summarise(runs["samples"][name])
            reference["ratios"] = runs["ratios"][name]
            reference["ratio"] = statistics.median(runs["ratios"][name])
            # The service over the other, round by round (the same load).
            pairs = list(zip(result["samples"], reference["samples"]))
            result[f"x_{server}"] = statistics.median(
                ours["rps"] / theirs["rps"] for ours, theirs in pairs
            )
            result[f"p99_x_{server}"] = statistics.median(
                ours["p99_us"] / theirs["p99_us"] for ours, theirs in pairs
            )
            # CPU per request, the other's over the service's: above 1, the
            # service spends less on a request.
            result[f"cpu_x_{server}"] = statistics.median(
                theirs["cpu_us"] / ours["cpu_us"] for ours, theirs in pairs
            )
        if METRICS_OFF:
            result["on_off"] = result["x_metrics_off"]
            result["metrics_cost_met"] = result["on_off"] >= 1 - METRICS_COST_LIMIT
        result["target"] = TARGETS[name]
        result["met"] = result["p99_ms"] < P99_LIMIT_MS and result["errors"] == 0
        if REFERENCE:
            result["met"] = result["met"] and (
                result["x_bare"] >= BARE_TARGET
                and result["x_fastapi"] >= FASTAPI_TARGET
                and result["p99_x_bare"] <= P99_BARE_TARGET
            )
        else:
            result["met"] = result["met"] and result["ratio"] >= TARGETS[name]
        report["scenarios"][name] = result
    return report


def main():
    stop_on_signals(signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    if shutil.which("wrk") is None or shutil.which("redis-server") is None:
        sys.exit("bench: needs wrk and redis-server (make bench installs them)")
    with work_folder("myapp-bench.", "BENCH_KEEP") as workdir:
        processes = Processes()
        bench = Bench(workdir, processes)
        try:
            if "--serve" in sys.argv[1:]:
                bench.start()
                serve(bench)
            report = run(bench)
        except Stop as stop:
            sys.exit(f"bench: {stop}")
        finally:
            processes.stop_all()
            bench.database.stop()
    print_table(report)
    save_results(report, "bench")


def save_results(report, kind):
    """bench/results/KIND-STAMP.json, and a line saying where."""
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = RESULTS / f"{kind}-{stamp}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"Results: {path.relative_to(ROOT)} ({report['seconds']} s)")


if __name__ == "__main__":
    main()
