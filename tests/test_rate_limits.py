"""Rate limits per client address, counted in Redis, never a cause of 5xx."""

import pytest
import redis

from myapp.settings import ConfigError
from myapp.api.limits import EXTENSION
from myapp_testing.contract import SpecChecker, assert_problem
from scripts.harness import Processes, start_redis


def keys(redis_server, pattern="*"):
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    try:
        return sorted(client.scan_iter(pattern))
    finally:
        client.close()


def get_from(client, address, path="/v1/foo/", **headers):
    return client.get(path, headers=headers, environ_base={"REMOTE_ADDR": address})


def test_sixth_get_in_a_minute_is_429_with_retry_after(
    make_app, monkeypatch, redis_server
):
    monkeypatch.setenv("MYAPP_RATELIMIT_DEFAULT", "5/minute")
    client = make_app().test_client()
    for _ in range(5):
        assert client.get("/v1/foo/").status_code == 200
    response = client.get("/v1/foo/")
    body = assert_problem(response, 429)
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert "5 per 1 minute" in body["detail"]
    assert response.headers["X-Request-ID"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    monkeypatch.delenv("MYAPP_RATELIMIT_DEFAULT")
    unlimited = make_app().test_client()
    SpecChecker(unlimited, "foo").check(response, "GET", "/foo/")
    assert keys(redis_server, "test:ratelimit:*")


def test_one_count_per_client_over_every_route_but_health_and_ready(make_app):
    client = make_app(RATELIMIT_DEFAULT="3/minute").test_client()
    for path in ("/v1/bar/", "/v1/foo/docs", "/docs"):
        assert client.get(path).status_code == 200
    for path in ("/v1/bar/", "/v1/foo/", "/docs", "/v1/bar/swagger.json"):
        assert_problem(client.get(path), 429)
    for path in ("/health", "/ready"):
        for _ in range(5):
            assert client.get(path).status_code == 200, path


def test_writes_over_the_limit_change_nothing(make_app):
    client = make_app(RATELIMIT_DEFAULT="2/minute").test_client()
    assert client.post("/v1/foo/", json={"name": "a"}).status_code == 201
    assert client.post("/v1/foo/", json={"name": "b"}).status_code == 201
    assert_problem(client.post("/v1/foo/", json={"name": "c"}), 429)
    assert get_from(client, "192.0.2.9").get_json()["total"] == 2


def test_cors_preflights_are_not_counted(make_app):
    client = make_app(RATELIMIT_DEFAULT="1/minute").test_client()
    preflight = {
        "Origin": "https://app.example",
        "Access-Control-Request-Method": "POST",
    }
    for _ in range(3):
        assert client.options("/v1/foo/", headers=preflight).status_code == 200
    assert client.get("/v1/foo/").status_code == 200


def test_off_unless_configured(make_app, redis_server):
    app = make_app()
    client = app.test_client()
    for _ in range(30):
        assert client.get("/v1/foo/").status_code == 200
    assert EXTENSION not in app.extensions
    assert keys(redis_server, "test:ratelimit:*") == []


def test_each_client_address_has_its_own_count(make_app):
    client = make_app(RATELIMIT_DEFAULT="2/minute").test_client()
    for _ in range(2):
        assert get_from(client, "192.0.2.1").status_code == 200
    assert_problem(get_from(client, "192.0.2.1"), 429)
    assert get_from(client, "192.0.2.2").status_code == 200


def test_forwarded_for_is_ignored_without_trusted_proxies(make_app):
    client = make_app(RATELIMIT_DEFAULT="2/minute").test_client()
    for n in range(2):
        forged = {"X-Forwarded-For": f"198.51.100.{n}"}
        assert get_from(client, "192.0.2.1", **forged).status_code == 200
    forged = {"X-Forwarded-For": "198.51.100.9"}
    assert_problem(get_from(client, "192.0.2.1", **forged), 429)


def test_behind_a_trusted_proxy_the_client_is_the_forwarded_address(
    make_app, monkeypatch
):
    monkeypatch.setenv("MYAPP_TRUSTED_PROXIES", "1")
    app = make_app(RATELIMIT_DEFAULT="2/minute")
    assert app.config["TRUSTED_PROXIES"] == 1
    client = app.test_client()
    proxy = "10.0.0.1"
    for _ in range(2):
        assert (
            get_from(client, proxy, **{"X-Forwarded-For": "203.0.113.5"}).status_code
            == 200
        )
    # A client that prepends its own X-Forwarded-For entry is still itself.
    spoofed = {"X-Forwarded-For": "1.1.1.1, 203.0.113.5"}
    assert_problem(get_from(client, proxy, **spoofed), 429)
    other = {"X-Forwarded-For": "203.0.113.6"}
    assert get_from(client, proxy, **other).status_code == 200


def test_counters_respect_the_redis_key_prefix(make_app, redis_server):
    first = make_app(RATELIMIT_DEFAULT="1/minute", REDIS_KEY_PREFIX="one:")
    second = make_app(RATELIMIT_DEFAULT="1/minute", REDIS_KEY_PREFIX="two:")
    assert first.test_client().get("/v1/foo/").status_code == 200
    assert second.test_client().get("/v1/foo/").status_code == 200
    assert_problem(first.test_client().get("/v1/foo/"), 429)
    found = keys(redis_server)
    assert found and all(
        k.startswith(("one:ratelimit:", "two:ratelimit:")) for k in found
    )


def test_apps_in_one_process_do_not_share_a_limiter(make_app, redis_server):
    strict = make_app(RATELIMIT_DEFAULT="1/minute", REDIS_KEY_PREFIX="strict:")
    loose = make_app(RATELIMIT_DEFAULT="3/minute", REDIS_KEY_PREFIX="loose:")
    unlimited = make_app()
    assert strict.extensions[EXTENSION] is not loose.extensions[EXTENSION]
    clients = [app.test_client() for app in (strict, loose, unlimited)]
    statuses = [[c.get("/v1/foo/").status_code for c in clients] for _ in range(4)]
    assert statuses == [
        [200, 200, 200],
        [429, 200, 200],
        [429, 200, 200],
        [429, 429, 200],
    ]


def test_redis_outage_falls_back_to_counting_in_memory(make_app, redis_server):
    app = make_app(RATELIMIT_DEFAULT="3/minute")
    client = app.test_client()
    redis_server.stop()
    try:
        assert_problem(client.get("/v1/bar/"), 503)  # bar's own store, not a 500
        for _ in range(2):
            assert client.get("/v1/foo/").status_code == 200
        response = client.get("/v1/foo/")
        assert_problem(response, 429)
        assert int(response.headers["Retry-After"]) >= 1
        assert client.get("/health").status_code == 200
    finally:
        redis_server.start()


def test_limit_strings_are_checked_at_start(make_app):
    with pytest.raises(ConfigError, match="RATELIMIT_DEFAULT"):
        make_app(RATELIMIT_DEFAULT="5 per fortnight")


def test_counts_in_a_redis_reached_by_unix_socket(make_app, tmp_path):
    """`make run` talks to its Redis over a unix socket (unix://...)."""
    with Processes() as processes:
        server = start_redis(processes, tmp_path, unix_socket=tmp_path / "redis.sock")
        client = server.admin()
        app = make_app(REDIS_URL=server.url, RATELIMIT_DEFAULT="1/minute")
        assert app.test_client().get("/v1/foo/").status_code == 200
        assert_problem(app.test_client().get("/v1/foo/"), 429)
        assert client.keys("test:ratelimit:*")
        client.close()


def test_ipv6_clients_are_counted_per_64(make_app, over_http):
    """Finding 6: a client with a /64 had 2^64 budgets (one per address)."""
    client = over_http(make_app(RATELIMIT_DEFAULT="2/minute", TRUSTED_PROXIES=1))

    def get(address):
        return client.request("GET", "/v1/foo/", headers={"X-Forwarded-For": address})

    assert get("2001:db8:1:2::1").status == 200
    assert get("2001:db8:1:2:aaaa:bbbb:cccc:dddd").status == 200
    over = get("2001:DB8:1:2:ffff:ffff:ffff:ffff")
    over.problem(429)
    assert int(over.headers["Retry-After"]) >= 1
    assert get("2001:db8:1:3::1").status == 200
    # IPv4 stays per address, also when written as an IPv4-mapped IPv6 address.
    assert get("192.0.2.1").status == 200
    assert get("::ffff:192.0.2.1").status == 200
    get("192.0.2.1").problem(429)
    assert get("192.0.2.2").status == 200
