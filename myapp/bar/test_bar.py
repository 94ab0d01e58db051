"""Bar over Redis: the shared contract plus what is bar's own."""

import time

from openapi_spec_validator import validate

from myapp_testing.contract import CrudContract, assert_problem
from myapp.db import redis_store


class TestBarContract(CrudContract):
    feature = "bar"
    missing_ids = [
        "0" * 32,
        "ABCDEF0123456789ABCDEF0123456789",
        "abc",
        "0" * 33,
        "12345",
        "g" * 32,
    ]

    def test_race_has_exactly_one_winner(self, make_app):
        self.race(make_app())


def test_spec_is_valid_swagger(client):
    validate(client.get("/v1/bar/swagger.json").get_json())


def test_ids_are_uuid4_hex(client):
    created = client.post("/v1/bar/", json={"name": "a"}).get_json()
    assert len(created["id"]) == 32 and int(created["id"], 16)
    assert created["id"][12] == "4"


def test_keys_live_under_the_prefix_with_an_index(client, app):
    ids = [client.post("/v1/bar/", json={"name": n}).get_json()["id"] for n in "ab"]
    client.delete(f"/v1/bar/{ids[0]}")
    with app.app_context():
        keys = set(redis_store.keys("*"))
        assert keys == {f"test:bar:{ids[1]}", "test:bar:index", "test:bar:seq"}
        assert redis_store.zrange("test:bar:index", 0, -1) == [ids[1]]


def test_a_record_deleted_behind_the_index_is_skipped(client, app):
    ids = [client.post("/v1/bar/", json={"name": n}).get_json()["id"] for n in "abc"]
    with app.app_context():
        redis_store.delete(f"test:bar:{ids[1]}")
    items = client.get("/v1/bar/").get_json()["items"]
    assert [item["id"] for item in items] == [ids[0], ids[2]]


def test_two_apps_never_share_a_redis_client(make_app, redis_server):
    first = make_app()
    second = make_app(REDIS_URL=redis_server.url.replace("/0", "/1"))
    first.test_client().post("/v1/bar/", json={"name": "in db 0"})
    assert first.test_client().get("/v1/bar/").get_json()["total"] == 1
    assert second.test_client().get("/v1/bar/").get_json()["total"] == 0
    with second.app_context():
        redis_store.flushdb()


def test_outage_is_503_fast_foo_keeps_serving_and_bar_recovers(client, redis_server):
    created = client.post("/v1/bar/", json={"name": "before"}).get_json()
    redis_server.stop()
    try:
        for call in [
            lambda: client.get("/v1/bar/"),
            lambda: client.get(f"/v1/bar/{created['id']}"),
            lambda: client.post("/v1/bar/", json={"name": "x"}),
            lambda: client.put(f"/v1/bar/{created['id']}", json={"name": "x"}),
            lambda: client.delete(f"/v1/bar/{created['id']}"),
        ]:
            started = time.monotonic()
            response = call()
            elapsed = time.monotonic() - started
            problem = assert_problem(response, 503)
            assert response.headers["Retry-After"] == "5"
            assert "Connection" not in problem["detail"]
            assert elapsed < 1.0, f"503 took {elapsed:.2f}s"
        assert client.post("/v1/foo/", json={"name": "sql is fine"}).status_code == 201
        ready = client.get("/ready")
        assert_problem(ready, 503)
        assert ready.get_json()["checks"] == {"sql": "ok", "redis": "unavailable"}
        assert client.get("/health").status_code == 200
    finally:
        redis_server.start()
    # Redis came back empty (no persistence); the same app serves bar again.
    assert client.get("/v1/bar/").status_code == 200
    assert client.post("/v1/bar/", json={"name": "after"}).status_code == 201
    assert client.get("/ready").get_json() == {
        "status": "ok",
        "checks": {"sql": "ok", "redis": "ok"},
    }


def test_bar_lists_in_creation_order_only(client):
    """Redis keeps no secondary index: any sort is refused, and none is documented."""
    for sort in ("name", "-created_at", "id"):
        response = client.get("/v1/bar/", query_string={"sort": sort})
        assert "creation order" in assert_problem(response, 400)["detail"]
    spec = client.get("/v1/bar/swagger.json").get_json()
    parameters = {p["name"] for p in spec["paths"]["/bar/"]["get"]["parameters"]}
    assert parameters == {"limit", "offset", "cursor"}


def test_bar_cursor_is_a_position_in_the_creation_sequence(client, app):
    ids = [client.post("/v1/bar/", json={"name": n}).get_json()["id"] for n in "abcd"]
    first = client.get("/v1/bar/?limit=2").get_json()
    # Everything up to the cursor's position goes; the next page is unchanged.
    for id in ids[:2]:
        client.delete(f"/v1/bar/{id}")
    later = client.post("/v1/bar/", json={"name": "e"}).get_json()["id"]
    body = client.get(f"/v1/bar/?cursor={first['next_cursor']}&limit=2").get_json()
    assert [item["id"] for item in body["items"]] == ids[2:]
    assert body["total"] == 3 and "offset" not in body
    last = client.get(f"/v1/bar/?cursor={body['next_cursor']}").get_json()
    assert [item["id"] for item in last["items"]] == [later]
    assert last["next_cursor"] is None
