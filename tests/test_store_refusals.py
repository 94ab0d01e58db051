"""Finding 4: a Redis that refuses writes is a 503 with Retry-After, not a 500.

Redis refuses writes when it is out of memory (``maxmemory``, noeviction), when
its last snapshot failed (MISCONF, with ``stop-writes-on-bgsave-error yes``) and
when it is a read-only replica. Each is provoked on a redis-server of this module's
own; meanwhile reads of bars, and foo (SQL) altogether, keep serving, and the
service stays ready (the contract's 503 is for a store that is unreachable).
"""

import time

import pytest
import redis

from scripts.harness import Processes, free_port, start_redis

TOKEN = "refusals-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def own_redis(tmp_path_factory):
    """A redis-server of this module's own, whose dump file is ``blocked.rdb``."""
    with Processes() as processes:
        yield start_redis(
            processes,
            tmp_path_factory.mktemp("refusing-redis"),
            extra=("--dbfilename", "blocked.rdb"),
        )


def out_of_memory(client, workdir):
    client.config_set("maxmemory-policy", "noeviction")
    client.config_set("maxmemory", "1")


def failed_snapshot(client, workdir):
    """A snapshot that cannot be renamed into place: a folder has its name (Redis
    7 will not change ``dbfilename`` at run time, and reads it at start)."""
    (workdir / "blocked.rdb").mkdir(exist_ok=True)
    client.config_set("save", "3600 1")
    client.config_set("stop-writes-on-bgsave-error", "yes")
    client.bgsave()
    for _ in range(200):
        if client.info("persistence")["rdb_last_bgsave_status"] == "err":
            return
        time.sleep(0.05)
    raise AssertionError("the snapshot did not fail")


def read_only_replica(client, workdir):
    client.replicaof("127.0.0.1", free_port())


def restore(client):
    client.replicaof("NO", "ONE")
    client.config_set("maxmemory", "0")
    client.config_set("save", "")
    client.flushdb()


@pytest.mark.parametrize(
    "refuse, reason, refused",
    [
        # Out of memory, Redis still deletes: that frees memory.
        (out_of_memory, "maxmemory", ("POST", "PUT", "PATCH")),
        (failed_snapshot, "MISCONF", ("POST", "PUT", "PATCH", "DELETE")),
        (read_only_replica, "read only replica", ("POST", "PUT", "PATCH", "DELETE")),
    ],
)
def test_refused_writes_are_503_and_the_rest_keeps_serving(
    make_app, over_http, own_redis, refuse, reason, refused
):
    client = redis.Redis.from_url(own_redis.url)
    app = make_app(
        API_TOKENS=[TOKEN],
        REDIS_URL=own_redis.url,
        RATELIMIT_DEFAULT="1000/minute",
    )
    http = over_http(app)
    try:
        existing = http.request("POST", "/v1/bar/", {"name": "kept"}, AUTH)
        assert existing.status == 201
        path = f"/v1/bar/{existing.json()['id']}"
        refuse(client, own_redis.folder)
        with pytest.raises(redis.ResponseError, match=reason):
            client.set("probe", "x")

        bodies = {"POST": {"name": "new"}, "PUT": {"name": "changed"}}
        bodies["PATCH"] = bodies["PUT"]
        for method in refused:
            body = bodies.get(method)
            target = "/v1/bar/" if method == "POST" else path
            reply = http.request(method, target, body, AUTH)
            problem = reply.problem(503)
            assert int(reply.headers["Retry-After"]) >= 1
            assert "error_id" not in problem
            assert reason not in reply.body.decode()  # nothing internal
            assert reply.headers["Content-Type"] == "application/problem+json"

        assert http.request("GET", path).json()["name"] == "kept"
        assert http.request("GET", "/v1/bar/").json()["total"] == 1
        created = http.request("POST", "/v1/foo/", {"name": "sql"}, AUTH)
        assert created.status == 201
        assert http.request("GET", created.headers["Location"]).status == 200
        assert http.request("GET", "/health").status == 200
        ready = http.request("GET", "/ready")  # Redis answers: reachable, not down
        assert ready.status == 200
        assert ready.json() == {"status": "ok", "checks": {"sql": "ok", "redis": "ok"}}
    finally:
        restore(client)
        client.close()


@pytest.mark.parametrize(
    "refuse",
    [out_of_memory, failed_snapshot, read_only_replica],
)
def test_a_connection_made_while_writes_are_refused_still_reads(
    make_app, own_redis, refuse
):
    """Reads keep serving on connections opened after the refusal began, as a new
    server thread or worker opens them (Redis refuses PING under MISCONF, so a
    client that checks a new connection's health with a PING cannot read)."""
    client = redis.Redis.from_url(own_redis.url)
    config = dict(
        API_TOKENS=[TOKEN], REDIS_URL=own_redis.url, RATELIMIT_DEFAULT="1000/minute"
    )
    try:
        writer = make_app(**config).test_client()
        created = writer.post("/v1/bar/", json={"name": "kept"}, headers=AUTH)
        assert created.status_code == 201
        refuse(client, own_redis.folder)

        reader = make_app(**config).test_client()  # its first connection is made now
        got = reader.get(f"/v1/bar/{created.json['id']}")
        assert got.status_code == 200
        assert got.json["name"] == "kept"
        listed = reader.get("/v1/bar/")
        assert listed.status_code == 200
        assert [item["name"] for item in listed.json["items"]] == ["kept"]
    finally:
        restore(client)
        client.close()
