"""Every error is problem+json: inside and outside the Apis, and the unexpected."""

import logging

import pytest

from myapp_testing.contract import assert_problem
from myapp.foo.models import FooModel


@pytest.fixture
def errors_logged(caplog):
    """The records of the "myapp" logger (it does not propagate to the root)."""
    logger = logging.getLogger("myapp")
    logger.addHandler(caplog.handler)
    yield caplog
    logger.removeHandler(caplog.handler)


def test_unknown_path_is_problem_404(client):
    response = client.get("/no/such/path")
    body = assert_problem(response, 404)
    assert body["type"] == "about:blank"
    assert body["title"] == "Not Found"


def test_api_root_is_problem_404(client):
    assert_problem(client.get("/v1/"), 404)


def test_method_not_allowed_outside_the_api_is_problem_405(client):
    response = client.post("/health")
    assert_problem(response, 405)
    assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}


def test_forced_500_in_a_plain_route_is_problem_with_logged_id(make_app, errors_logged):
    app = make_app()

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internal detail")

    response = app.test_client().get("/boom")
    body = assert_problem(response, 500)
    assert "secret" not in response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)
    assert len(body["error_id"]) == 32 and body["error_id"] in body["detail"]
    logged = [r for r in errors_logged.records if body["error_id"] in r.getMessage()]
    assert logged and logged[0].exc_info[0] is RuntimeError


def test_forced_500_inside_an_api_resource_is_problem(
    client, monkeypatch, errors_logged
):
    def broken(cls, id):
        raise ZeroDivisionError("select * from secrets")

    monkeypatch.setattr(FooModel, "get", classmethod(broken))
    response = client.get("/v1/foo/1")
    body = assert_problem(response, 500)
    assert "secrets" not in response.get_data(as_text=True)
    assert any(body["error_id"] in r.getMessage() for r in errors_logged.records)


@pytest.mark.parametrize(
    "path", ["/v1/foo/", "/v1/bar/", "/health", "/docs", "/v1/foo/swagger.json"]
)
def test_head_and_options_answer(client, path):
    assert client.head(path).status_code == 200
    options = client.options(path)
    assert options.status_code == 200
    assert "GET" in options.headers["Allow"]


def test_trailing_slash_redirects_without_losing_the_method(client):
    response = client.post("/v1/foo", json={"name": "x"})
    assert response.status_code == 308
    assert response.headers["Location"].endswith("/v1/foo/")
