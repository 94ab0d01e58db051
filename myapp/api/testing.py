"""Test helpers shared by every feature's tests (not collected by pytest itself).

``CrudContract`` is the HTTP contract (shared/docs/api-contract.md) of one CRUD
resource as a set of tests: a feature's test module subclasses it, names its
collection, and adds tests for what is its own.
"""

import json
import re
import threading
from hashlib import sha256
from urllib.parse import urlencode

import pytest
from itsdangerous import Signer
from jsonschema import Draft4Validator, FormatChecker

PROBLEM = "application/problem+json"
STRONG_ETAG = re.compile(r'"[\x21\x23-\x7e]*"')


class SpecChecker:
    """Checks a response against what the feature's swagger.json documents for it."""

    def __init__(self, client, feature):
        self.spec = client.get(f"/v1/{feature}/swagger.json").get_json()

    def operation(self, method, path_template):
        return self.spec["paths"][path_template][method.lower()]

    def check(self, response, method, path_template):
        documented = self.operation(method, path_template)["responses"]
        status = str(response.status_code)
        assert status in documented, (
            f"{method} {path_template} answered {status}, documented:"
            f" {sorted(documented)}"
        )
        entry = documented[status]
        for header in entry.get("headers", {}):
            if header in ("ETag", "Location"):
                assert header in response.headers, f"{header} missing"
        if response.status_code in (204, 304):
            assert response.data == b""
            return None
        expected_type = PROBLEM if response.status_code >= 400 else "application/json"
        assert response.mimetype == expected_type
        body = response.get_json()
        schema = _nullable(dict(entry["schema"], definitions=self.spec["definitions"]))
        errors = list(
            Draft4Validator(schema, format_checker=FormatChecker()).iter_errors(body)
        )
        assert not errors, f"body does not match the documented schema: {errors}"
        return body


def _nullable(schema):
    """Swagger 2.0's ``x-nullable`` as JSON Schema, so a validator honours it."""
    if isinstance(schema, list):
        return [_nullable(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result = {key: _nullable(value) for key, value in schema.items()}
    if result.pop("x-nullable", False) and "type" in result:
        result["type"] = [result["type"], "null"]
    return result


def assert_problem(response, status, with_errors=False):
    assert response.status_code == status, response.data
    assert response.mimetype == PROBLEM
    body = response.get_json()
    assert body["status"] == status
    assert set(body) >= {"type", "title", "status", "detail"}
    assert isinstance(body["detail"], str) and body["detail"]
    assert ("errors" in body) == with_errors
    return body


def _padded_json(document, size):
    """``document`` as JSON padded with spaces to exactly ``size`` bytes."""
    text = json.dumps(document)
    return (text + " " * (size - len(text))).encode()


class CrudContract:
    """The contract of one CRUD resource; subclass and set ``feature``."""

    feature = None
    # Ids that name nothing: unknown, malformed, out of range.
    missing_ids = ()

    @property
    def collection(self):
        return f"/v1/{self.feature}/"

    @property
    def item_template(self):
        return f"/{self.feature}/{{id}}"

    @property
    def list_template(self):
        return f"/{self.feature}/"

    @pytest.fixture
    def spec(self, client):
        return SpecChecker(client, self.feature)

    def create(self, client, name="a name", **kwargs):
        response = client.post(self.collection, json={"name": name}, **kwargs)
        assert response.status_code == 201, response.data
        return response

    # --- create -------------------------------------------------------------

    def test_create_returns_the_resource_with_location_and_etag(self, client, spec):
        response = client.post(self.collection, json={"name": "my thing"})
        created = spec.check(response, "POST", self.list_template)
        assert response.status_code == 201
        assert created["name"] == "my thing"
        assert created["created_at"] == created["updated_at"]
        assert response.headers["Location"] == f"{self.collection}{created['id']}"
        assert STRONG_ETAG.fullmatch(response.headers["ETag"])

        fetched = client.get(response.headers["Location"])
        assert spec.check(fetched, "GET", self.item_template) == created
        assert fetched.headers["ETag"] == response.headers["ETag"]

    @pytest.mark.parametrize(
        "name",
        [
            "a",
            "x" * 120,
            "😀" * 120,
            "  spaces kept  ",
            "e\u0301 vs \u00e9",
            "\u05e9\u05dc\u05d5\u05dd \u4f60\u597d",
            "tab\tnew\nline",
            '"quotes" & <tags> \\ /',
        ],
    )
    def test_names_are_stored_exactly_as_sent(self, client, name):
        created = self.create(client, name).get_json()
        assert created["name"] == name
        assert client.get(f"{self.collection}{created['id']}").get_json() == created

    @pytest.mark.parametrize(
        "body, paths",
        [
            ({}, ["/name"]),
            ({"name": ""}, ["/name"]),
            ({"name": "x" * 121}, ["/name"]),
            ({"name": "😀" * 121}, ["/name"]),
            ({"name": 5}, ["/name"]),
            ({"name": None}, ["/name"]),
            ({"name": ["a"]}, ["/name"]),
            ({"name": "a", "colour": "red"}, ["/colour"]),
            ({"name": "a", "id": 1}, ["/id"]),
            ({"name": "a", "created_at": "2020-01-01T00:00:00Z"}, ["/created_at"]),
            (
                {"name": 1, "extra": 2, "updated_at": 3},
                ["/extra", "/name", "/updated_at"],
            ),
        ],
    )
    def test_invalid_bodies_are_400_with_every_error(self, client, spec, body, paths):
        response = client.post(self.collection, json=body)
        problem = assert_problem(response, 400, with_errors=True)
        spec.check(response, "POST", self.list_template)
        assert sorted(error["path"] for error in problem["errors"]) == paths
        assert all(error["message"] for error in problem["errors"])
        assert client.get(self.collection).get_json()["total"] == 0

    @pytest.mark.parametrize(
        "data",
        [b"{", b"", b"[]", b'"name"', b"null", b"1", b"\xff\xfe", b'{"name": NaN}']
        + [b"[" * 100_000 + b"]" * 100_000],
    )
    def test_bodies_that_are_not_json_objects_are_400(self, client, data):
        response = client.post(
            self.collection, data=data, content_type="application/json"
        )
        assert_problem(response, 400)
        assert client.get(self.collection).get_json()["total"] == 0

    def test_unpaired_surrogate_is_400(self, client):
        response = client.post(
            self.collection,
            data=b'{"name": "\\ud800"}',
            content_type="application/json",
        )
        problem = assert_problem(response, 400, with_errors=True)
        assert [error["path"] for error in problem["errors"]] == ["/name"]

    @pytest.mark.parametrize(
        "content_type", ["text/plain", "application/x-www-form-urlencoded", None]
    )
    def test_non_json_content_type_is_415(self, client, spec, content_type):
        response = client.post(
            self.collection, data=b'{"name": "a"}', content_type=content_type
        )
        assert_problem(response, 415)
        spec.check(response, "POST", self.list_template)

    def test_body_larger_than_the_limit_is_413(self, client, app, spec):
        limit = app.config["MAX_CONTENT_LENGTH"]
        response = client.post(
            self.collection,
            data=_padded_json({"name": "big"}, limit + 1),
            content_type="application/json",
        )
        assert_problem(response, 413)
        spec.check(response, "POST", self.list_template)
        assert client.get(self.collection).get_json()["total"] == 0

    def test_body_of_exactly_the_limit_is_accepted(self, client, app):
        limit = app.config["MAX_CONTENT_LENGTH"]
        response = client.post(
            self.collection,
            data=_padded_json({"name": "big"}, limit),
            content_type="application/json",
        )
        assert response.status_code == 201

    # --- read ---------------------------------------------------------------

    def test_get_unknown_or_malformed_id_is_404(self, client):
        for id in self.missing_ids:
            assert_problem(client.get(f"{self.collection}{id}"), 404)

    def test_get_unknown_id_matches_the_spec(self, client, spec):
        response = client.get(f"{self.collection}{self.missing_ids[0]}")
        spec.check(response, "GET", self.item_template)

    def test_if_none_match_gives_304_without_body(self, client, spec):
        location = self.create(client).headers["Location"]
        etag = client.get(location).headers["ETag"]
        for header in [etag, f'"other", {etag}', f"W/{etag}", "*"]:
            response = client.get(location, headers={"If-None-Match": header})
            assert response.status_code == 304, header
            assert response.data == b""
            assert response.headers["ETag"] == etag
            assert "Content-Type" not in response.headers
            spec.check(response, "GET", self.item_template)
        response = client.get(location, headers={"If-None-Match": '"other"'})
        assert response.status_code == 200

    def test_head_answers_like_get_without_a_body(self, client):
        """The specs say HEAD works wherever GET does (it is not listed per path)."""
        location = self.create(client).headers["Location"]
        missing = f"{self.collection}{self.missing_ids[0]}"
        for target in [location, self.collection, missing]:
            get, head = client.get(target), client.head(target)
            assert head.status_code == get.status_code, target
            assert head.data == b""
            for name in ("ETag", "Link", "Content-Type", "Content-Length"):
                assert head.headers.get(name) == get.headers.get(name), name

    def test_get_with_failing_if_match_is_412(self, client):
        location = self.create(client).headers["Location"]
        assert_problem(client.get(location, headers={"If-Match": '"nope"'}), 412)

    # --- replace ------------------------------------------------------------

    def test_put_replaces_the_writable_fields(self, client, spec):
        created = self.create(client, "before")
        location = created.headers["Location"]
        response = client.put(location, json={"name": "after"})
        replaced = spec.check(response, "PUT", self.item_template)
        assert response.status_code == 200
        before = created.get_json()
        assert replaced["name"] == "after"
        assert replaced["id"] == before["id"]
        assert replaced["created_at"] == before["created_at"]
        assert replaced["updated_at"] > before["updated_at"]
        assert response.headers["ETag"] != created.headers["ETag"]
        fetched = client.get(location)
        assert fetched.get_json() == replaced
        assert fetched.headers["ETag"] == response.headers["ETag"]

    def test_put_with_invalid_body_changes_nothing(self, client, spec):
        created = self.create(client)
        location = created.headers["Location"]
        response = client.put(location, json={"name": "", "id": 7})
        problem = assert_problem(response, 400, with_errors=True)
        spec.check(response, "PUT", self.item_template)
        assert sorted(e["path"] for e in problem["errors"]) == ["/id", "/name"]
        assert client.get(location).get_json() == created.get_json()

    def test_put_unknown_id_is_404(self, client, spec):
        response = client.put(
            f"{self.collection}{self.missing_ids[0]}", json={"name": "x"}
        )
        assert_problem(response, 404)
        spec.check(response, "PUT", self.item_template)

    def test_put_needs_json(self, client):
        location = self.create(client).headers["Location"]
        response = client.put(location, data="name=x", content_type="text/plain")
        assert_problem(response, 415)

    @pytest.mark.parametrize("method", ["put", "patch", "delete"])
    def test_failing_if_match_is_412_and_changes_nothing(self, client, spec, method):
        created = self.create(client)
        location, etag = created.headers["Location"], created.headers["ETag"]
        for header in ['"stale"', f"W/{etag}", "garbage"]:
            response = getattr(client, method)(
                location, json={"name": "changed"}, headers={"If-Match": header}
            )
            assert_problem(response, 412)
            spec.check(response, method.upper(), self.item_template)
        fetched = client.get(location)
        assert fetched.get_json() == created.get_json()

    @pytest.mark.parametrize("method", ["put", "patch"])
    def test_matching_if_match_applies_the_write(self, client, method):
        created = self.create(client)
        location, etag = created.headers["Location"], created.headers["ETag"]
        response = getattr(client, method)(
            location, json={"name": "one"}, headers={"If-Match": f'"x", {etag}'}
        )
        assert response.status_code == 200
        response = getattr(client, method)(
            location, json={"name": "two"}, headers={"If-Match": "*"}
        )
        assert response.status_code == 200
        stale = getattr(client, method)(
            location, json={"name": "three"}, headers={"If-Match": etag}
        )
        assert_problem(stale, 412)
        assert client.get(location).get_json()["name"] == "two"

    def test_if_none_match_on_a_write_that_matches_is_412(self, client):
        created = self.create(client)
        response = client.put(
            created.headers["Location"],
            json={"name": "x"},
            headers={"If-None-Match": "*"},
        )
        assert_problem(response, 412)

    # --- patch --------------------------------------------------------------

    @pytest.mark.parametrize(
        "content_type", ["application/merge-patch+json", "application/json"]
    )
    def test_patch_merges(self, client, spec, content_type):
        created = self.create(client, "before")
        location = created.headers["Location"]
        response = client.patch(
            location, data=json.dumps({"name": "after"}), content_type=content_type
        )
        patched = spec.check(response, "PATCH", self.item_template)
        assert patched["name"] == "after"
        assert patched["created_at"] == created.get_json()["created_at"]
        assert client.get(location).get_json() == patched
        assert client.get(location).headers["ETag"] == response.headers["ETag"]

    def test_empty_patch_keeps_the_fields(self, client):
        created = self.create(client, "same")
        response = client.patch(
            created.headers["Location"],
            data=b"{}",
            content_type="application/merge-patch+json",
        )
        assert response.status_code == 200
        assert response.get_json()["name"] == "same"

    @pytest.mark.parametrize(
        "patch, paths",
        [
            ({"name": None}, ["/name"]),
            ({"name": ""}, ["/name"]),
            ({"id": 3}, ["/id"]),
            ({"name": "x" * 121}, ["/name"]),
            ({"other": {"deep": 1}}, ["/other"]),
        ],
    )
    def test_patch_whose_result_is_invalid_is_400(self, client, spec, patch, paths):
        created = self.create(client)
        location = created.headers["Location"]
        response = client.patch(
            location,
            data=json.dumps(patch),
            content_type="application/merge-patch+json",
        )
        problem = assert_problem(response, 400, with_errors=True)
        spec.check(response, "PATCH", self.item_template)
        assert [error["path"] for error in problem["errors"]] == paths
        assert client.get(location).get_json() == created.get_json()

    @pytest.mark.parametrize(
        "data, content_type, status",
        [
            (b"[]", "application/merge-patch+json", 400),
            (b"{", "application/merge-patch+json", 400),
            (b'{"name": "x"}', "application/json-patch+json", 415),
            (b'{"name": "x"}', "text/plain", 415),
        ],
    )
    def test_patch_bad_bodies(self, client, data, content_type, status):
        created = self.create(client)
        response = client.patch(
            created.headers["Location"], data=data, content_type=content_type
        )
        assert_problem(response, status)
        assert client.get(created.headers["Location"]).get_json() == created.get_json()

    def test_patch_unknown_id_is_404(self, client, spec):
        response = client.patch(
            f"{self.collection}{self.missing_ids[0]}", json={"name": "x"}
        )
        assert_problem(response, 404)
        spec.check(response, "PATCH", self.item_template)

    # --- delete -------------------------------------------------------------

    def test_delete_removes_the_resource(self, client, spec):
        location = self.create(client).headers["Location"]
        response = client.delete(location)
        spec.check(response, "DELETE", self.item_template)
        assert response.status_code == 204
        assert response.data == b""
        assert "Content-Type" not in response.headers
        assert_problem(client.get(location), 404)
        assert_problem(client.delete(location), 404)
        assert client.get(self.collection).get_json()["total"] == 0

    def test_delete_with_matching_if_match(self, client):
        created = self.create(client)
        response = client.delete(
            created.headers["Location"], headers={"If-Match": created.headers["ETag"]}
        )
        assert response.status_code == 204

    # --- list ---------------------------------------------------------------

    def test_empty_list(self, client, spec):
        response = client.get(self.collection)
        body = spec.check(response, "GET", self.list_template)
        assert body == {
            "items": [],
            "total": 0,
            "total_exact": True,
            "limit": 20,
            "offset": 0,
            "next_cursor": None,
        }
        assert "Link" not in response.headers

    def next_link(self, response):
        """The rel="next" target of a response's Link header."""
        found = re.search(r'<([^>]*)>; rel="next"', response.headers.get("Link", ""))
        return found and found.group(1)

    def test_list_pages_oldest_first_with_links(self, client, spec):
        created = [self.create(client, f"item {n}").get_json() for n in range(5)]
        response = client.get(f"{self.collection}?limit=2")
        body = spec.check(response, "GET", self.list_template)
        cursor = body.pop("next_cursor")
        assert body == {
            "items": created[:2],
            "total": 5,
            "total_exact": True,
            "limit": 2,
            "offset": 0,
        }
        assert isinstance(cursor, str) and cursor
        assert response.headers["Link"] == (
            f'<{self.collection}?{urlencode({"cursor": cursor, "limit": 2})}>;'
            ' rel="next"'
        )

        response = client.get(f"{self.collection}?limit=2&offset=2")
        body = response.get_json()
        assert body["items"] == created[2:4]
        assert response.headers["Link"] == (
            f'<{self.collection}?{urlencode({"cursor": body["next_cursor"]})}'
            '&limit=2>; rel="next", '
            f'<{self.collection}?limit=2&offset=0>; rel="prev"'
        )

        # A page that ends on the last record has no next.
        response = client.get(f"{self.collection}?offset=4&limit=1")
        assert response.get_json()["items"] == created[4:]
        assert response.get_json()["next_cursor"] is None
        assert response.headers["Link"] == (
            f'<{self.collection}?limit=1&offset=3>; rel="prev"'
        )

        response = client.get(f"{self.collection}?offset=10")
        assert response.get_json() == {
            "items": [],
            "total": 5,
            "total_exact": True,
            "limit": 20,
            "offset": 10,
            "next_cursor": None,
        }
        assert response.headers["Link"] == (
            f'<{self.collection}?limit=20&offset=0>; rel="prev"'
        )

    def test_list_default_page_has_next_link(self, client):
        created = [self.create(client, f"n{n}").get_json() for n in range(21)]
        response = client.get(self.collection)
        body = response.get_json()
        assert (len(body["items"]), body["total"], body["limit"]) == (20, 21, 20)
        assert response.headers["Link"] == (
            f'<{self.collection}?{urlencode({"cursor": body["next_cursor"]})}'
            '&limit=20>; rel="next"'
        )
        last = client.get(self.next_link(response))
        assert last.get_json() == {
            "items": created[20:],
            "total": 21,
            "total_exact": True,
            "limit": 20,
            "next_cursor": None,
        }
        assert "Link" not in last.headers

    def test_cursor_pages_walk_the_collection(self, client, spec):
        created = [self.create(client, f"walk {n}").get_json() for n in range(7)]
        seen, link, limits = [], f"{self.collection}?limit=3", iter([3, 1, 5, 2])
        while link:
            response = client.get(link)
            body = spec.check(response, "GET", self.list_template)
            seen.extend(body["items"])
            if "cursor=" in link:
                assert "offset" not in body
                assert 'rel="prev"' not in response.headers.get("Link", "")
            assert body["total"] == 7
            link = self.next_link(response)
            assert (link is None) == (body["next_cursor"] is None)
            if link:
                # limit may change from page to page; the cursor link keeps it.
                link = link.replace("limit=3", f"limit={next(limits)}")
        assert seen == created

    def test_cursor_page_ending_on_the_last_record_has_no_next(self, client):
        created = [self.create(client, f"n{n}").get_json() for n in range(4)]
        first = client.get(f"{self.collection}?limit=2").get_json()
        second = client.get(
            self.collection, query_string={"cursor": first["next_cursor"], "limit": 2}
        )
        assert second.get_json()["items"] == created[2:]
        assert second.get_json()["next_cursor"] is None
        assert "Link" not in second.headers

    def test_cursor_walk_sees_each_record_once_while_others_change(self, client):
        """Records are created and deleted between pages: the keyset holds."""
        stable = [
            self.create(client, f"stable {n}").get_json()["id"] for n in range(12)
        ]
        doomed = [self.create(client, f"doomed {n}").get_json()["id"] for n in range(6)]
        seen = []
        response = client.get(f"{self.collection}?limit=4")
        while True:
            seen.extend(item["id"] for item in response.get_json()["items"])
            cursor = response.get_json()["next_cursor"]
            if cursor is None:
                break
            # Delete seen and unseen records, and add new ones, before each page.
            for victim in (doomed.pop(0) if doomed else None, seen[0]):
                if victim is not None and victim not in stable:
                    client.delete(f"{self.collection}{victim}")
            if seen[0] in stable:
                stable.remove(seen[0])
                client.delete(f"{self.collection}{seen[0]}")
            self.create(client, "new during the walk")
            response = client.get(
                self.collection, query_string={"cursor": cursor, "limit": 4}
            )
        assert len(seen) == len(set(seen)), "a record was listed twice"
        assert set(stable) <= set(seen)

    def other_collection(self):
        return "/v1/bar/" if self.feature != "bar" else "/v1/foo/"

    def cursor(self, client, collection=None):
        collection = collection or self.collection
        if not client.get(collection).get_json()["total"]:
            for n in range(2):
                client.post(collection, json={"name": f"c{n}"})
        return client.get(f"{collection}?limit=1").get_json()["next_cursor"]

    def test_cursor_misuse_is_400(self, client, spec):
        cursor = self.cursor(client)
        payload, signature = cursor.rsplit(".", 1)
        swap = {"A": "B"}.get(payload[5], "A")
        # The same position, signed with a key this service does not have.
        signer = Signer("another key", salt="myapp.cursor", digest_method=sha256)
        foreign = signer.sign(payload).decode()
        misuses = {
            "empty": {"cursor": ""},
            "malformed": {"cursor": "not a cursor"},
            "tampered payload": {
                "cursor": f"{payload[:5]}{swap}{payload[6:]}.{signature}"
            },
            "tampered signature": {"cursor": f"{payload}.{signature[::-1]}"},
            "truncated": {"cursor": cursor[:-3]},
            "huge": {"cursor": cursor + "A" * 5000},
            "with offset": {"cursor": cursor, "offset": 0},
            "with offset 1": {"cursor": cursor, "offset": 1},
            "twice": [("cursor", cursor), ("cursor", cursor)],
            "other resource": {"cursor": self.cursor(client, self.other_collection())},
            "other key": {"cursor": foreign},
        }
        for name, query in misuses.items():
            response = client.get(self.collection, query_string=query)
            assert_problem(response, 400)
            spec.check(response, "GET", self.list_template)
            assert "cursor" in response.get_json()["detail"], name

    @pytest.mark.parametrize(
        "query",
        [
            "limit=0",
            "limit=101",
            "limit=-1",
            "limit=abc",
            "limit=1.5",
            "limit=",
            "limit=2&limit=3",
            "offset=-1",
            "offset=x",
            "offset=1e3",
            "offset=10000",
            "offset=1000000000000000000",
            "offset=99999999999999999999999",
        ],
    )
    def test_bad_paging_is_400(self, client, spec, query):
        response = client.get(f"{self.collection}?{query}")
        assert_problem(response, 400)
        spec.check(response, "GET", self.list_template)

    @pytest.mark.parametrize("limit", [1, 100])
    def test_limit_bounds_are_accepted(self, client, limit):
        response = client.get(f"{self.collection}?limit={limit}")
        assert response.status_code == 200
        assert response.get_json()["limit"] == limit

    @pytest.mark.parametrize(
        "offset, limit", [(9980, 20), (9999, 1), (9900, 100), (0, 100)]
    )
    def test_offset_window_is_accepted_to_its_end(self, client, offset, limit):
        response = client.get(f"{self.collection}?offset={offset}&limit={limit}")
        assert response.status_code == 200
        assert response.get_json()["items"] == []
        assert response.get_json()["offset"] == offset

    @pytest.mark.parametrize(
        "offset, limit", [(9981, 20), (9999, 2), (9901, 100), (9999, None)]
    )
    def test_beyond_the_offset_window_is_400_pointing_at_next_cursor(
        self, client, spec, offset, limit
    ):
        query = {"offset": offset, **({"limit": limit} if limit else {})}
        response = client.get(self.collection, query_string=query)
        problem = assert_problem(response, 400)
        spec.check(response, "GET", self.list_template)
        assert "next_cursor" in problem["detail"]
        assert "10000" in problem["detail"]

    # --- cross-cutting ------------------------------------------------------

    @pytest.mark.parametrize(
        "method, suffix", [("put", ""), ("delete", ""), ("patch", ""), ("post", "x")]
    )
    def test_method_not_allowed_is_405_with_allow(self, client, method, suffix):
        target = self.collection + suffix
        if suffix:
            target = f"{self.collection}{self.create(client).get_json()['id']}"
        response = getattr(client, method)(target, json={"name": "x"})
        assert_problem(response, 405)
        assert response.headers["Allow"]
        assert method.upper() not in response.headers["Allow"]

    def test_request_id_is_echoed_or_made(self, client):
        response = client.get(self.collection, headers={"X-Request-ID": "abc-123"})
        assert response.headers["X-Request-ID"] == "abc-123"
        for insane in ["", "x" * 200, "bad id\x7f"]:
            response = client.get(self.collection, headers={"X-Request-ID": insane})
            assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"])
        error = client.get(f"{self.collection}{self.missing_ids[0]}")
        assert error.headers["X-Request-ID"]

    # --- authentication -----------------------------------------------------

    def test_writes_need_a_token_when_tokens_are_configured(self, make_app):
        client = make_app(API_TOKENS=["s3cret", "other"]).test_client()
        for headers in [
            {},
            {"Authorization": "Bearer wrong"},
            {"Authorization": "s3cret"},
        ]:
            response = client.post(self.collection, json={"name": "x"}, headers=headers)
            assert_problem(response, 401)
            assert response.headers["WWW-Authenticate"] == "Bearer"
        assert client.get(self.collection).get_json()["total"] == 0

        good = {"Authorization": "Bearer s3cret"}
        created = client.post(self.collection, json={"name": "x"}, headers=good)
        assert created.status_code == 201
        location = created.headers["Location"]
        for method in ("put", "patch", "delete"):
            response = getattr(client, method)(location, json={"name": "changed"})
            assert_problem(response, 401)
        assert client.get(location).get_json() == created.get_json()
        assert client.put(location, json={"name": "y"}, headers=good).status_code == 200
        other = {"Authorization": "bearer other"}
        assert client.delete(location, headers=other).status_code == 204

    # --- concurrency --------------------------------------------------------

    def race(self, app, clients=16):
        """16 clients PUT with the same If-Match at once: one wins, 15 get 412."""
        client = app.test_client()
        created = client.post(self.collection, json={"name": "start"})
        location, etag = created.headers["Location"], created.headers["ETag"]
        barrier = threading.Barrier(clients)
        statuses = []

        def put(n):
            own = app.test_client()
            barrier.wait()
            response = own.put(
                location, json={"name": f"writer {n}"}, headers={"If-Match": etag}
            )
            statuses.append(response.status_code)

        threads = [threading.Thread(target=put, args=(n,)) for n in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        try:
            assert sorted(statuses) == [200] + [412] * (clients - 1)
            final = client.get(location).get_json()
            assert final["name"].startswith("writer ")
        finally:
            client.delete(location)
