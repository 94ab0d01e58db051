"""CORS: an allow-list from CORS_ORIGINS; none in production, any in development."""

import pytest

ALLOWED = "https://app.example"
PREFLIGHT = {
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization, content-type, if-match,"
    " idempotency-key",
}


def preflight(client, origin, path="/v1/foo/"):
    return client.options(path, headers={"Origin": origin, **PREFLIGHT})


def test_preflight_from_an_allowed_origin(make_app):
    client = make_app(CORS_ORIGINS=[ALLOWED]).test_client()
    response = preflight(client, ALLOWED)
    assert response.status_code == 200
    headers = response.headers
    assert headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "POST" in headers["Access-Control-Allow-Methods"]
    allowed_headers = headers["Access-Control-Allow-Headers"].lower()
    for name in ("authorization", "content-type", "if-match", "idempotency-key"):
        assert name in allowed_headers
    assert headers["Access-Control-Max-Age"] == "600"
    assert "Origin" in headers["Vary"]
    assert "Access-Control-Allow-Credentials" not in headers


def test_preflight_from_a_refused_origin(make_app):
    client = make_app(CORS_ORIGINS=[ALLOWED]).test_client()
    for origin in ("https://evil.example", "https://app.example.evil", "null"):
        response = preflight(client, origin)
        assert "Access-Control-Allow-Origin" not in response.headers, origin
        assert "Access-Control-Allow-Methods" not in response.headers


def test_allowed_origin_can_read_the_contract_headers(make_app):
    client = make_app(CORS_ORIGINS=[ALLOWED]).test_client()
    response = client.post("/v1/foo/", json={"name": "x"}, headers={"Origin": ALLOWED})
    assert response.status_code == 201
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    exposed = {
        name.strip().lower()
        for name in response.headers["Access-Control-Expose-Headers"].split(",")
    }
    assert exposed >= {"etag", "location", "link", "retry-after", "x-request-id"}
    assert "idempotent-replayed" in exposed


def test_origins_from_the_environment(make_app, monkeypatch):
    monkeypatch.setenv("MYAPP_CORS_ORIGINS", "https://a.example, https://b.example")
    client = make_app().test_client()
    for origin in ("https://a.example", "https://b.example"):
        assert (
            preflight(client, origin).headers["Access-Control-Allow-Origin"] == origin
        )
    assert "Access-Control-Allow-Origin" not in preflight(client, ALLOWED).headers
    # Without an Origin nothing is sent: the allow-list is not told to anyone.
    response = client.get("/v1/foo/")
    assert "Access-Control-Allow-Origin" not in response.headers
    assert "Origin" in response.headers["Vary"]


@pytest.mark.parametrize("path", ["/v1/foo/", "/v1/bar/", "/health", "/docs"])
def test_no_origin_in_production_by_default(make_app, path):
    client = make_app(env="production", API_TOKENS=["t1"]).test_client()
    assert make_app(env="production", API_TOKENS=["t1"]).config["CORS_ORIGINS"] == []
    response = preflight(client, ALLOWED, path)
    assert "Access-Control-Allow-Origin" not in response.headers
    response = client.get(path, headers={"Origin": ALLOWED})
    assert "Access-Control-Allow-Origin" not in response.headers


def test_every_origin_in_development(make_app):
    client = make_app(env="development").test_client()
    response = preflight(client, "http://localhost:3000")
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    response = client.get("/v1/foo/", headers={"Origin": "http://localhost:3000"})
    assert response.headers["Access-Control-Allow-Origin"] == "*"
