"""Finding 7: a validation failure lists at most 100 errors, and counts the rest."""

import json


def test_validation_errors_are_capped_at_100_with_a_count_of_the_rest(
    make_app, over_http
):
    """Finding 7: 90,000 extra members made a 5.57 MB 400 (amplification)."""
    client = over_http(make_app())
    document = {"name": "x", **{str(n): 0 for n in range(90_000)}}
    body = json.dumps(document, separators=(",", ":")).encode()
    assert len(body) < 1024 * 1024
    reply = client.request(
        "POST", "/v1/foo/", body=body, headers={"Content-Type": "application/json"}
    )
    body = reply.problem(400)
    assert len(body["errors"]) == 100
    assert body["errors_omitted"] == 90_000 - 100
    assert body["errors"][0] == {
        "path": "/0",
        "message": "is not an allowed property",
    }
    assert "90000" in body["detail"] or "89900" in body["detail"]
    assert len(reply.body) < 16_000
    assert client.request("GET", "/v1/foo/").json()["total"] == 0


def test_up_to_100_errors_are_all_listed(make_app, over_http):
    client = over_http(make_app())
    document = {"name": "x", **{f"extra{n:03}": n for n in range(100)}}
    body = client.request("POST", "/v1/bar/", document).problem(400)
    assert len(body["errors"]) == 100
    assert "errors_omitted" not in body
