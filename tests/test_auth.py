"""Bearer tokens for writes: production start-up rules, secrecy, comparison."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from flask import Blueprint
from flask_restx import Resource

from myapp import create_app
from myapp.api import auth
from myapp.api.feature_api import FeatureApi
from myapp.settings import ConfigError
from myapp_testing.contract import assert_problem

ROOT = Path(__file__).resolve().parent.parent
SECRET = "s3cret-token-value"
# Run in a child process after `import wsgi`: a POST to bar without, then with, t1.
POSTS = """
import json, wsgi
client = wsgi.app.test_client()
without = client.post("/v1/bar/", json={"name": "x"})
token = {"Authorization": "Bearer t1"}
good = client.post("/v1/bar/", json={"name": "x"}, headers=token)
print(json.dumps([without.status_code, without.headers.get("WWW-Authenticate"),
                  without.mimetype, good.status_code]))
"""


def run_wsgi(store_config, code="import wsgi", **variables):
    """`python -c code` in a clean production environment (instance config outvoted)."""
    env = {name: value for name, value in os.environ.items() if "MYAPP" not in name}
    env.update(
        MYAPP_ENV="production",
        MYAPP_SQLALCHEMY_DATABASE_URI=store_config["SQLALCHEMY_DATABASE_URI"],
        MYAPP_REDIS_URL=store_config["REDIS_URL"],
        MYAPP_REDIS_KEY_PREFIX="wsgi-test:",
        MYAPP_API_TOKENS="",
        MYAPP_AUTH_DISABLED="false",
    )
    env.update(variables)
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_without_tokens_refuses_to_start_in_one_line(store_config):
    result = run_wsgi(store_config)
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("myapp: No API tokens configured")
    assert "MYAPP_API_TOKENS" in lines[0] and "MYAPP_AUTH_DISABLED" in lines[0]


def test_production_with_a_token_guards_writes(store_config, redis_server):
    try:
        result = run_wsgi(store_config, POSTS, MYAPP_API_TOKENS="t1")
        assert result.returncode == 0, result.stderr
        without, challenge, mimetype, good = json.loads(result.stdout)
        assert (without, challenge, mimetype) == (
            401,
            "Bearer",
            "application/problem+json",
        )
        assert good == 201
    finally:
        redis_server.flush()


def test_production_with_auth_disabled_starts(store_config, monkeypatch):
    monkeypatch.setenv("MYAPP_AUTH_DISABLED", "true")
    create_app(dict(store_config), env="production")


def test_production_refusal_in_process(store_config):
    with pytest.raises(ConfigError, match="MYAPP_API_TOKENS"):
        create_app(dict(store_config), env="production")


@pytest.mark.parametrize(
    "variables, named",
    [
        ({"MYAPP_AUTH_DISABLED": "maybe"}, "AUTH_DISABLED"),
        ({"MYAPP_ENV": "staging"}, "MYAPP_ENV"),
        ({"MYAPP_API_TOKENS": "t1", "MYAPP_TRUSTED_PROXIES": "-1"}, "TRUSTED_PROXIES"),
        ({"MYAPP_API_TOKENS": "t1", "MYAPP_TRUSTED_PROXIES": "two"}, "TRUSTED_PROXIES"),
        ({"MYAPP_API_TOKENS": "t1", "MYAPP_RATELIMIT_DEFAULT": "lots"}, "RATELIMIT"),
    ],
)
def test_bad_settings_stop_the_start_with_a_one_line_reason(
    store_config, monkeypatch, variables, named
):
    """wsgi.py prints a ConfigError as one line (as for missing tokens, above)."""
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as raised:
        env = None if "MYAPP_ENV" in variables else "production"
        create_app(None if env is None else dict(store_config), env=env)
    assert named in str(raised.value)
    assert "\n" not in str(raised.value)


def test_production_tokens_from_the_environment(make_app, monkeypatch):
    monkeypatch.setenv("MYAPP_API_TOKENS", "t1, t2")
    client = make_app(env="production").test_client()
    assert_problem(client.post("/v1/foo/", json={"name": "x"}), 401)
    for token in ("t1", "t2"):
        response = client.post(
            "/v1/foo/", json={"name": "x"}, headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 201
    assert client.get("/v1/foo/").get_json()["total"] == 2


@pytest.mark.parametrize("env", ["development", "testing"])
def test_without_tokens_development_and_tests_accept_writes(make_app, env):
    client = make_app(env=env).test_client()
    assert client.post("/v1/foo/", json={"name": "x"}).status_code == 201


def test_configured_tokens_win_over_auth_disabled(make_app, monkeypatch, over_http):
    """Finding 1: MYAPP_AUTH_DISABLED=true beside tokens opened every write."""
    monkeypatch.setenv("MYAPP_API_TOKENS", "t1")
    monkeypatch.setenv("MYAPP_AUTH_DISABLED", "true")
    client = over_http(make_app(env="production"))
    anonymous = client.request("POST", "/v1/bar/", {"name": "x"})
    anonymous.problem(401)
    assert anonymous.headers["WWW-Authenticate"] == "Bearer"
    wrong = client.request(
        "POST", "/v1/bar/", {"name": "x"}, {"Authorization": "Bearer t2"}
    )
    wrong.problem(401)
    assert client.request("GET", "/v1/bar/").json()["total"] == 0
    good = client.request(
        "POST", "/v1/bar/", {"name": "x"}, {"Authorization": "Bearer t1"}
    )
    assert good.status == 201


@pytest.mark.parametrize(
    "tokens",
    ['[""]', '["t1", ""]', '["  "]', '["t1", 7]', '["t1", null]', "t1,,t2", "[[]]"],
)
def test_empty_or_non_string_tokens_refuse_the_start(store_config, monkeypatch, tokens):
    """Finding 2: a list from the environment was taken as it came, "" included."""
    monkeypatch.setenv("MYAPP_API_TOKENS", tokens)
    with pytest.raises(ConfigError, match="API_TOKENS") as raised:
        create_app(dict(store_config), env="production")
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize("tokens", ['[""]', "123456789", '{"t1": true}', "true"])
def test_bad_tokens_stop_a_production_start_in_one_line(store_config, tokens):
    """Finding 2: '[""]' started, 123456789 crashed with a traceback."""
    result = run_wsgi(store_config, MYAPP_API_TOKENS=tokens)
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("myapp: API_TOKENS"), lines[0]
    assert "Traceback" not in result.stderr


def test_an_empty_bearer_never_matches(make_app, over_http):
    """Finding 2: an empty token may not be configured, so an empty bearer fails."""
    client = over_http(make_app(API_TOKENS=[SECRET]))
    for authorization in ("Bearer", "Bearer ", "Bearer  "):
        reply = client.request(
            "POST", "/v1/foo/", {"name": "x"}, {"Authorization": authorization}
        )
        reply.problem(401)
    assert client.request("GET", "/v1/foo/").json()["total"] == 0


@pytest.mark.parametrize(
    "authorization",
    [
        "",
        "Bearer",
        "Bearer ",
        f"Basic {SECRET}",
        f"Bearer {SECRET}x",
        f"Bearer {SECRET[:-1]}",
        f"Bearer {SECRET.upper()}",
        "Bearer é",
        "Bearer \x00",
    ],
)
def test_wrong_tokens_are_401_and_change_nothing(make_app, authorization):
    client = make_app(API_TOKENS=[SECRET]).test_client()
    response = client.post(
        "/v1/bar/", json={"name": "x"}, headers={"Authorization": authorization}
    )
    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert client.get("/v1/bar/").get_json()["total"] == 0


def test_reads_need_no_token(make_app):
    client = make_app(API_TOKENS=[SECRET]).test_client()
    assert client.get("/v1/foo/").status_code == 200
    assert client.get("/health").status_code == 200


def decorated_feature():
    """A feature whose resource has method decorators: restx dispatches it."""
    blueprint = Blueprint("decorated", __name__)
    api = FeatureApi(blueprint, "decorated", title="Decorated", version="1")
    ns = api.namespace("decorated", path="/decorated")
    calls = []

    def noted(method):
        def noting(*args, **kwargs):
            calls.append(method.__name__)
            return method(*args, **kwargs)

        return noting

    @ns.route("/")
    class Decorated(Resource):
        method_decorators = [noted]

        def get(self):
            return {"read": True}

        def post(self):
            return {"written": True}, 201

    return blueprint, calls


def test_writes_dispatched_by_restx_need_a_token_too(make_app):
    blueprint, calls = decorated_feature()
    app = make_app(API_TOKENS=[SECRET])
    app.register_blueprint(blueprint, url_prefix="/v1")
    client = app.test_client()
    refused = client.post("/v1/decorated/", json={})
    assert_problem(refused, 401)
    assert refused.headers["WWW-Authenticate"] == "Bearer"
    assert calls == []
    read = client.get("/v1/decorated/")
    assert (read.status_code, read.get_json()) == (200, {"read": True})
    token = {"Authorization": f"Bearer {SECRET}"}
    written = client.post("/v1/decorated/", json={}, headers=token)
    assert (written.status_code, written.get_json()) == (201, {"written": True})
    assert calls == ["get", "post"]


def test_tokens_are_never_logged(make_app, capture_log):
    app = make_app(env="production", API_TOKENS=[SECRET])

    @app.get("/boom")
    def boom():
        raise RuntimeError("boom")

    log = capture_log()
    client = app.test_client()
    good = {"Authorization": f"Bearer {SECRET}"}
    assert client.post("/v1/foo/", json={"name": "x"}, headers=good).status_code == 201
    wrong = {"Authorization": "Bearer wrong-token-value"}
    assert client.post("/v1/foo/", json={"name": "x"}, headers=wrong).status_code == 401
    assert client.get("/boom", headers=good).status_code == 500
    assert client.get(f"/v1/foo/?name={SECRET}", headers=good).status_code == 200
    lines = log.getvalue().splitlines()
    assert len(lines) >= 5  # an access line per request and the 500's error
    assert SECRET not in log.getvalue()
    assert "wrong-token-value" not in log.getvalue()


def test_every_configured_token_is_compared_in_constant_time(monkeypatch):
    """hmac.compare_digest for each token, whichever matches: no early exit."""
    calls = []

    def counting_compare(supplied, candidate):
        calls.append(candidate)
        return supplied == candidate

    monkeypatch.setattr(auth.hmac, "compare_digest", counting_compare)
    tokens = ["first", "second", "third"]
    for supplied, valid in [("first", True), ("third", True), ("none", False)]:
        calls.clear()
        assert auth._token_is_valid(supplied, tokens) is valid
        assert calls == [token.encode() for token in tokens]


def test_every_spec_documents_the_bearer_token_on_writes(client, app):
    """swagger-ui's Authorize button needs the definition; writes reference it."""
    for feature in app.config["DOCS_FEATURES"]:
        spec = client.get(f"/v1/{feature}/swagger.json").get_json()
        definition = spec["securityDefinitions"]["bearer"]
        assert (definition["type"], definition["in"], definition["name"]) == (
            "apiKey",
            "header",
            "Authorization",
        )
        for operations in spec["paths"].values():
            for method, operation in operations.items():
                if method in ("post", "put", "patch", "delete"):
                    assert operation["security"] == [{"bearer": []}]
                    assert "401" in operation["responses"]
                elif method == "get":
                    assert "security" not in operation
