"""Finding 5: an id has one spelling; any other (leading zeros, non-ASCII
digits, a sign, upper-case hex) is a 404, whatever the method, and changes nothing."""

import urllib.parse

import pytest

TOKEN = "ids-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def fullwidth(digits):
    return "".join(chr(ord("０") + int(d)) for d in digits)


def aliases_of_foo(id):
    text = str(id)
    return [
        f"0{text}",
        f"00{text}",
        urllib.parse.quote(fullwidth(text)),
        urllib.parse.quote("٣" * len(text)),  # Arabic-Indic digits
        f"+{text}",
        f"{text}.0",
        "99999999999999999999",
        f"{text}%20",
    ]


@pytest.fixture
def client(make_app, over_http):
    return over_http(make_app(API_TOKENS=[TOKEN]))


def test_foo_ids_in_another_form_are_404(client):
    created = client.request("POST", "/v1/foo/", {"name": "a"}, AUTH)
    assert created.status == 201
    id = created.json()["id"]
    assert client.request("GET", f"/v1/foo/{id}").status == 200
    for alias in aliases_of_foo(id):
        path = f"/v1/foo/{alias}"
        client.request("GET", path).problem(404)
        client.request("PUT", path, {"name": "changed"}, AUTH).problem(404)
        client.request("PATCH", path, {"name": "changed"}, AUTH).problem(404)
        client.request("DELETE", path, headers=AUTH).problem(404)
    assert client.request("GET", f"/v1/foo/{id}").json()["name"] == "a"


def test_fullwidth_digits_do_not_reach_another_foo(client):
    ids = [
        client.request("POST", "/v1/foo/", {"name": f"n{n}"}, AUTH).json()["id"]
        for n in range(3)
    ]
    for id in ids:
        wide = urllib.parse.quote(fullwidth(str(id)))
        client.request("GET", f"/v1/foo/{wide}").problem(404)


def test_bar_ids_in_another_form_are_404(client):
    created = client.request("POST", "/v1/bar/", {"name": "a"}, AUTH)
    id = created.json()["id"]
    for alias in (id.upper(), f"0{id}", f"{id}%20", urllib.parse.quote(f"{id}\u200b")):
        client.request("GET", f"/v1/bar/{alias}").problem(404)
        client.request("DELETE", f"/v1/bar/{alias}", headers=AUTH).problem(404)
    assert client.request("GET", f"/v1/bar/{id}").status == 200
