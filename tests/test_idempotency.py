"""Idempotency-Key on POST, for every feature: replays, mismatches, races, scopes.

The contract's "Retries" section: the first response is replayed for the same key
and body (same token, 24 h) with ``Idempotent-Replayed: true``; another body is a
422; a repeat while the first runs is a 409 with Retry-After; without Redis a
request with the key is a 503 and one without it is served as before.
"""

import importlib
import json
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from myapp import FEATURES, create_app
from myapp.api.sql_model import SqlModel
from myapp.db import redis_store
from myapp.settings import ConfigError
from myapp_testing.contract import assert_problem, example_body

FEATURE_NAMES = [blueprint.name for blueprint in FEATURES]
KEY = "7d4c2a9e-retry-me"
TOKENS = ["token-one", "token-two"]


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def keyed(key=KEY, token=TOKENS[0]):
    return {"Idempotency-Key": key, **bearer(token)}


def total(client, feature):
    return client.get(f"/v1/{feature}/").get_json()["total"]


def body(client, feature, n=0, token=TOKENS[0]):
    """A valid create body #n of any feature, from its declared fields."""
    return example_body(_model_of(feature), client, n, headers=bearer(token))


@pytest.fixture
def secured_app(make_app):
    return make_app(API_TOKENS=TOKENS)


@pytest.fixture
def secured(secured_app):
    return secured_app.test_client()


@pytest.mark.parametrize("feature", FEATURE_NAMES)
def test_a_repeat_replays_the_first_response_and_creates_nothing(secured, feature):
    collection = f"/v1/{feature}/"
    document = body(secured, feature)
    first = secured.post(collection, json=document, headers=keyed())
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first.headers

    # The same document, spelled differently, is the same request.
    again = secured.post(
        collection,
        data=json.dumps(dict(reversed(document.items())), indent=2),
        content_type="application/json",
        headers=keyed(),
    )
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_data() == first.get_data()
    for header in ("Location", "ETag", "Content-Type"):
        assert again.headers[header] == first.headers[header]
    assert total(secured, feature) == 1
    assert secured.get(first.headers["Location"]).get_json() == first.get_json()


@pytest.mark.parametrize("feature", FEATURE_NAMES)
def test_the_same_key_with_another_body_or_path_is_422(secured, feature):
    collection = f"/v1/{feature}/"
    document = body(secured, feature)
    first = secured.post(collection, json=document, headers=keyed())
    assert first.status_code == 201
    second = body(secured, feature, 1)
    other = secured.post(collection, json=second, headers=keyed())
    problem = assert_problem(other, 422)
    assert "Idempotency-Key" in problem["detail"]
    assert total(secured, feature) == 1
    elsewhere = next(name for name in FEATURE_NAMES if name != feature)
    before = total(secured, elsewhere)
    moved = secured.post(
        f"/v1/{elsewhere}/", json=body(secured, elsewhere), headers=keyed()
    )
    assert_problem(moved, 422)
    assert total(secured, elsewhere) == before
    # The first response is still the one kept.
    replay = secured.post(collection, json=document, headers=keyed())
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.get_json() == first.get_json()


@pytest.mark.parametrize(
    "key",
    ["", "x" * 256, "clé", "tab\there", "new\x7fline"],
    ids=["empty", "too-long", "non-ascii", "control", "delete"],
)
def test_a_key_that_is_not_1_to_255_printable_ascii_is_400(secured, key):
    response = secured.post("/v1/bar/", json={"name": "x"}, headers=keyed(key))
    problem = assert_problem(response, 400)
    assert "Idempotency-Key" in problem["detail"]
    assert total(secured, "bar") == 0


def test_the_longest_key_and_spaces_are_accepted(secured):
    for key in ("k" * 255, "a key with spaces ~!"):
        response = secured.post("/v1/foo/", json={"name": "x"}, headers=keyed(key))
        assert response.status_code == 201
    assert total(secured, "foo") == 2


@pytest.mark.parametrize("feature", FEATURE_NAMES)
def test_keys_are_scoped_per_token_and_the_token_is_not_stored(
    secured, secured_app, feature
):
    collection = f"/v1/{feature}/"
    mine = secured.post(collection, json=body(secured, feature), headers=keyed())
    theirs = secured.post(
        collection,
        json=body(secured, feature, 1, TOKENS[1]),
        headers=keyed(token=TOKENS[1]),
    )
    assert mine.status_code == theirs.status_code == 201
    assert "Idempotent-Replayed" not in theirs.headers
    assert mine.get_json()["id"] != theirs.get_json()["id"]
    assert total(secured, feature) == 2
    with secured_app.app_context():
        stored = {key: redis_store.get(key) for key in redis_store.keys("*idemp*")}
    assert len(stored) == 2
    for key, value in stored.items():
        for token in TOKENS:
            assert token not in key and token not in value


@pytest.mark.parametrize("feature", FEATURE_NAMES)
def test_a_request_refused_without_a_token_does_not_use_the_key(secured, feature):
    collection = f"/v1/{feature}/"
    document = body(secured, feature)
    refused = secured.post(collection, json=document, headers={"Idempotency-Key": KEY})
    assert_problem(refused, 401)
    created = secured.post(collection, json=document, headers=keyed())
    assert created.status_code == 201
    assert "Idempotent-Replayed" not in created.headers


def test_without_tokens_configured_keys_share_one_anonymous_scope(client):
    headers = {"Idempotency-Key": KEY}
    first = client.post("/v1/bar/", json={"name": "x"}, headers=headers)
    again = client.post("/v1/bar/", json={"name": "x"}, headers=headers)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()


@pytest.mark.parametrize("feature", FEATURE_NAMES)
def test_a_failed_first_attempt_is_not_kept(secured, feature):
    """A 4xx created nothing: the key is free for the corrected request."""
    collection = f"/v1/{feature}/"
    document = body(secured, feature)
    invalid = secured.post(
        collection, json={**document, "not_a_field": ""}, headers=keyed()
    )
    assert_problem(invalid, 400, with_errors=True)
    not_json = secured.post(
        collection, data="name=x", content_type="text/plain", headers=keyed()
    )
    assert_problem(not_json, 415)
    fixed = secured.post(collection, json=document, headers=keyed())
    assert fixed.status_code == 201
    assert "Idempotent-Replayed" not in fixed.headers
    assert total(secured, feature) == 1


def test_the_response_is_kept_for_24_hours(secured, secured_app):
    secured.post("/v1/bar/", json={"name": "x"}, headers=keyed())
    with secured_app.app_context():
        (key,) = redis_store.keys("*idempotency*")
        assert 24 * 3600 - 5 <= redis_store.ttl(key) <= 24 * 3600


@pytest.mark.parametrize("feature", FEATURE_NAMES)
def test_once_the_response_expires_the_key_is_new(make_app, feature):
    collection = f"/v1/{feature}/"
    client = make_app(API_TOKENS=TOKENS, IDEMPOTENCY_KEY_TTL=1).test_client()
    document = body(client, feature)
    first = client.post(collection, json=document, headers=keyed())
    replay = client.post(collection, json=document, headers=keyed())
    assert replay.headers["Idempotent-Replayed"] == "true"
    time.sleep(1.2)
    # Another body with the same key: a 422 while the key was kept.
    after = client.post(collection, json=body(client, feature, 1), headers=keyed())
    assert after.status_code == 201
    assert "Idempotent-Replayed" not in after.headers
    assert after.get_json()["id"] != first.get_json()["id"]
    assert total(client, feature) == 2


@pytest.mark.parametrize("name", ["IDEMPOTENCY_KEY_TTL", "IDEMPOTENCY_LOCK_TTL"])
@pytest.mark.parametrize("value", ["0", "-1", "a day"])
def test_a_ttl_that_is_not_a_positive_number_stops_the_start(store_config, name, value):
    with pytest.raises(ConfigError, match=name):
        create_app({**store_config, name: value})


class HeldCreate:
    """Holds a model's create until released, to have a request in flight."""

    def __init__(self, model):
        self.model = model
        self.entered = threading.Event()
        self.go_on = threading.Event()

    def __call__(self, data):
        self.entered.set()
        assert self.go_on.wait(10)
        return self.original.__func__(self.model, data)

    def install(self, monkeypatch):
        self.original = self.model.create
        monkeypatch.setattr(self.model, "create", self)


@pytest.mark.parametrize("feature", FEATURE_NAMES)
def test_a_repeat_while_the_first_runs_is_409_with_retry_after(
    secured_app, monkeypatch, feature
):
    collection = f"/v1/{feature}/"
    model = _model_of(feature)
    held = HeldCreate(model)
    slow = body(secured_app.test_client(), feature)
    other_body = body(secured_app.test_client(), feature, 1)
    held.install(monkeypatch)
    first = {}

    def post_first():
        first["response"] = secured_app.test_client().post(
            collection, json=slow, headers=keyed()
        )

    thread = threading.Thread(target=post_first)
    thread.start()
    try:
        assert held.entered.wait(10)
        client = secured_app.test_client()
        busy = client.post(collection, json=slow, headers=keyed())
        assert_problem(busy, 409)
        assert busy.headers["Retry-After"] == "1"
        other = client.post(collection, json=other_body, headers=keyed())
        assert_problem(other, 422)
        with secured_app.app_context():
            (key,) = redis_store.keys("*idempotency*")
            assert 0 < redis_store.ttl(key) <= 60
    finally:
        held.go_on.set()
        thread.join(10)
    assert first["response"].status_code == 201
    replay = secured_app.test_client().post(collection, json=slow, headers=keyed())
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.get_json() == first["response"].get_json()


def _model_of(feature):
    """The model a feature's endpoints document (and serve)."""
    (docs,) = importlib.import_module(f"myapp.{feature}.endpoints").api.crud_docs
    return docs.model


def _post(url, token, key, document):
    request = urllib.request.Request(
        url,
        data=json.dumps(document).encode(),
        method="POST",
        headers={"Content-Type": "application/json", **keyed(key, token)},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.load(error)


@pytest.mark.parametrize("feature", FEATURE_NAMES)
def test_16_concurrent_repeats_of_one_key_make_one_record(live_server, feature):
    url = f"{live_server.url}/v1/{feature}/"
    barrier = threading.Barrier(16)
    document = body(live_server.app.test_client(), feature, token=live_server.token)

    def post(_):
        barrier.wait()
        return _post(url, live_server.token, "raced-key", document)

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(post, range(16)))
    created = [body for status, headers, body in results if status == 201]
    replayed = [h for status, h, _ in results if h.get("Idempotent-Replayed")]
    busy = [headers for status, headers, _ in results if status == 409]
    assert len(created) + len(busy) == 16, [status for status, _, _ in results]
    assert len(created) - len(replayed) == 1
    assert len({body["id"] for body in created}) == 1
    assert all(headers["Retry-After"] == "1" for headers in busy)
    with urllib.request.urlopen(url) as response:
        assert json.load(response)["total"] == 1


@pytest.mark.parametrize("feature", FEATURE_NAMES)
def test_without_redis_a_keyed_post_is_503_and_others_are_served(
    secured, redis_server, feature
):
    collection = f"/v1/{feature}/"
    document = body(secured, feature)
    redis_server.stop()
    try:
        keyed_post = secured.post(collection, json=document, headers=keyed())
        assert_problem(keyed_post, 503)
        assert keyed_post.headers["Retry-After"]
        plain = secured.post(collection, json=document, headers=bearer(TOKENS[0]))
        if issubclass(_model_of(feature), SqlModel):  # served as without Redis
            assert plain.status_code == 201
            assert total(secured, feature) == 1
        else:
            assert_problem(plain, 503)
    finally:
        redis_server.start()
