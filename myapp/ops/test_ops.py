"""/health and /ready."""

from myapp_testing.contract import assert_problem


def test_health(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_ready_names_each_store(client):
    response = client.get("/ready")
    assert response.status_code == 200
    assert response.get_json() == {
        "status": "ok",
        "checks": {"sql": "ok", "redis": "ok"},
    }


def test_ready_is_503_problem_when_redis_is_unreachable(make_app):
    app = make_app(REDIS_URL="redis://127.0.0.1:9/0")
    response = app.test_client().get("/ready")
    body = assert_problem(response, 503)
    assert response.headers["Retry-After"] == "5"
    assert body["checks"] == {"sql": "ok", "redis": "unavailable"}
    assert app.test_client().get("/health").status_code == 200
