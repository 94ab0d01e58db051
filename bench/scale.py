"""`make bench-scale`: what a list costs at 10^3, 10^5 and 10^6 records.

A benchmark, not a test (never part of `make test` or CI). Starts a private
PostgreSQL (scripts/postgres.sh) and redis-server; for each size, a database and
a Redis key prefix of its own, migrated, filled straight through the stores in
bulk (foo with one INSERT ... SELECT over generate_series, bar with pipelined
SET and ZADD), then VACUUM (ANALYZE) until every page is all-visible, what
autovacuum leaves after such a load. It measures the app in process (Flask's
test client: the service's own cost, no HTTP server) for each request kind: the
first page, the 50th cursor page (its cursor found by following next_cursor
from the first), each sort's first page, each filter, and GET by id. Every round
requests each kind at every size in turn, so the machine's other work weighs on
all sizes alike. The table shows the median milliseconds over ROUNDS rounds at
each size and the ratio to the smallest, and marks a ratio above 2 (the
contract's bound at 10^6).

foo's names: 10% are "common" (10^5 of them at 10^6: the bounded total is
reached), the rest spread over 1000 others ("name 7" matches 0.1%).

Settings (environment): BENCH_SCALE_SIZES (1000,100000,1000000),
BENCH_SCALE_ROUNDS (200), BENCH_KEEP (keep the work folder).
"""

import datetime
import json
import os
import shutil
import signal
import statistics
import sys
import time

import sqlalchemy as sa

from run import ROOT, machine, save_results

sys.path.insert(0, str(ROOT))

from flask_migrate import upgrade  # noqa: E402

from myapp import create_app  # noqa: E402
from myapp.db import redis_store, sql  # noqa: E402
from scripts.harness import (  # noqa: E402
    Database,
    Processes,
    Stop,
    log,
    start_redis,
    stop_on_signals,
    work_folder,
)

SIZES = [
    int(n)
    for n in os.environ.get("BENCH_SCALE_SIZES", "1000,100000,1000000").split(",")
]
ROUNDS = int(os.environ.get("BENCH_SCALE_ROUNDS", "200"))
CURSOR_DEPTH = 50
BOUND = 2.0
PREFIX = "bench:"
BAR_CHUNK = 20_000
START = datetime.datetime(2026, 1, 1)

FILL_FOO = sa.text("""
    INSERT INTO foo (name, created_at, updated_at, version)
    SELECT CASE WHEN g % 10 = 0 THEN 'common' ELSE 'name ' || (g % 1000) END,
           CAST(:start AS timestamp) + g * interval '1 millisecond',
           CAST(:start AS timestamp) + g * interval '1 millisecond',
           1
    FROM generate_series(CAST(:first AS integer), CAST(:last AS integer)) AS g
    """)


VISIBILITY = sa.text(
    "SELECT relpages, relallvisible FROM pg_class WHERE oid = 'foo'::regclass"
)


def fill_foo(app, size):
    with app.app_context():
        with sql.engine.begin() as connection:
            # The private server commits asynchronously (scripts/postgres.sh);
            # until the load's commit is on disk VACUUM may not mark its rows
            # visible to all, so this commit waits for it.
            connection.execute(sa.text("SET LOCAL synchronous_commit TO on"))
            connection.execute(FILL_FOO, {"start": START, "first": 1, "last": size})
        with sql.engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT")
            # What autovacuum leaves after a load: statistics, and every page
            # marked all-visible, which index-only scans (the bounded counts)
            # need. Measuring anything else would measure another table.
            for _ in range(10):
                connection.execute(sa.text("VACUUM (ANALYZE) foo"))
                pages, visible = connection.execute(VISIBILITY).one()
                if visible >= pages:
                    return
                time.sleep(0.5)
            raise RuntimeError(
                f"foo at {size:,}: {visible} of {pages} pages all-visible"
            )


def fill_bar(app, size):
    prefix = app.config["REDIS_KEY_PREFIX"]
    with app.app_context():
        for first in range(1, size + 1, BAR_CHUNK):
            documents, scores = {}, {}
            for sequence in range(first, min(first + BAR_CHUNK, size + 1)):
                id = f"{sequence:032x}"
                moment = (START + datetime.timedelta(milliseconds=sequence)).isoformat(
                    timespec="microseconds"
                )
                documents[f"{prefix}bar:{id}"] = json.dumps(
                    {
                        "id": id,
                        "name": f"name {sequence % 1000}",
                        "created_at": moment + "Z",
                        "updated_at": moment + "Z",
                    },
                    separators=(",", ":"),
                )
                scores[id] = sequence
            with redis_store.pipeline(transaction=False) as pipe:
                pipe.mset(documents)
                pipe.zadd(f"{prefix}bar:index", scores)
                pipe.set(f"{prefix}bar:seq", sequence)
                pipe.execute()


def size_app(server_url, redis_url, size):
    """An app on a database and a key prefix of this size's own, migrated."""
    database = f"myapp_scale_{size}"
    engine = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{database}"'))
    engine.dispose()
    url = sa.engine.make_url(server_url).set(database=database)
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url.render_as_string(hide_password=False),
            "REDIS_URL": redis_url,
            "REDIS_KEY_PREFIX": f"bench{size}:",
        }
    )
    with app.app_context():
        upgrade()
    return app


def cursor_path(client, collection):
    """The path of the 50th page, found by following next_cursor from the first."""
    path = collection
    for _ in range(CURSOR_DEPTH - 1):
        response = client.get(path)
        assert response.status_code == 200, response.data
        path = f"{collection}?cursor={response.get_json()['next_cursor']}"
    return path


def request_kinds(client, size):
    middle = size // 2
    prefix = client.application.config["REDIS_KEY_PREFIX"]
    with client.application.app_context():
        bar_id = redis_store.zrange(f"{prefix}bar:index", middle, middle)[0]
    kinds = {
        "foo first page": "/v1/foo/",
        f"foo page {CURSOR_DEPTH} (cursor)": cursor_path(client, "/v1/foo/"),
    }
    for sort in ("id", "-id", "name", "-name", "created_at", "-created_at"):
        kinds[f"foo ?sort={sort}"] = f"/v1/foo/?sort={sort}"
    kinds["foo ?name=common (10%)"] = "/v1/foo/?name=common"
    kinds["foo ?name=name 7 (0.1%)"] = "/v1/foo/?name=name%207"
    kinds["foo GET by id"] = f"/v1/foo/{middle}"
    kinds["bar first page"] = "/v1/bar/"
    kinds[f"bar page {CURSOR_DEPTH} (cursor)"] = cursor_path(client, "/v1/bar/")
    kinds["bar GET by id"] = f"/v1/bar/{bar_id}"
    return kinds


def measure(clients):
    """Median milliseconds of each kind at each size.

    Every round requests each kind once at every size, in turn, so whatever
    else the machine does at the time weighs on all sizes alike.
    """
    kinds = {size: request_kinds(client, size) for size, client in clients.items()}
    samples = {size: {name: [] for name in kinds[size]} for size in clients}
    for size, client in clients.items():  # warm-up: statements, pooled connections
        for path in kinds[size].values():
            for _ in range(5):
                assert client.get(path).status_code == 200, path
    names = list(kinds[SIZES[0]])
    for round in range(ROUNDS):
        # Each size goes first as often as the others.
        order = SIZES[round % len(SIZES) :] + SIZES[: round % len(SIZES)]
        for name in names:
            for size in order:
                path = kinds[size][name]
                started = time.perf_counter()
                response = clients[size].get(path)
                samples[size][name].append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, (path, response.data)
    return {
        str(size): {name: statistics.median(values) for name, values in by_name.items()}
        for size, by_name in samples.items()
    }


def print_table(report):
    sizes = report["sizes"]
    base = sizes[0]
    header = ["request"] + [f"{size:,} ms" for size in sizes]
    header += [f"x at {size:,}" for size in sizes[1:]]
    print("| " + " | ".join(header) + " |")
    print("|---|" + "--:|" * (len(header) - 1))
    worst = 0.0
    for name in report["results"][str(base)]:
        cells = [name]
        cells += [f"{report['results'][str(size)][name]:.2f}" for size in sizes]
        for size in sizes[1:]:
            ratio = (
                report["results"][str(size)][name] / report["results"][str(base)][name]
            )
            worst = max(worst, ratio)
            cells.append(f"{ratio:.2f}" + (" **over 2x**" if ratio > BOUND else ""))
        print("| " + " | ".join(cells) + " |")
    verdict = "PASS" if worst <= BOUND else "FAIL"
    print(f"\n{verdict}: the largest ratio to {base:,} records is {worst:.2f}", end="")
    print(f" (bound {BOUND})")
    return verdict


def main():
    stop_on_signals(signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    if shutil.which("redis-server") is None:
        sys.exit("bench-scale: needs redis-server (make bench-scale installs it)")
    started = time.monotonic()
    report = {"machine": machine(), "rounds": ROUNDS, "sizes": SIZES, "results": {}}
    with work_folder("myapp-bench-scale.", "BENCH_KEEP") as workdir:
        processes = Processes()
        database = Database("postgres", workdir / "pg")
        try:
            database.start()
            redis_url = start_redis(processes, workdir).url
            report["results"] = fill_and_measure(database.url, redis_url)
            report["load_average"] = [round(value, 2) for value in os.getloadavg()]
        except Stop as stop:
            sys.exit(f"bench-scale: {stop}")
        finally:
            processes.stop_all()
            database.stop()
    report["seconds"] = round(time.monotonic() - started)
    report["verdict"] = print_table(report)
    save_results(report, "scale")


def fill_and_measure(database_url, redis_url):
    """Each size in a database and a key prefix of its own, then the rounds."""
    clients = {}
    for size in SIZES:
        log(f"filling foo and bar to {size:,} records")
        filling = time.monotonic()
        app = size_app(database_url, redis_url, size)
        fill_foo(app, size)
        fill_bar(app, size)
        log(f"  filled in {time.monotonic() - filling:.1f} s")
        clients[size] = app.test_client()
    log(f"measuring: {ROUNDS} rounds")
    return measure(clients)


if __name__ == "__main__":
    main()
