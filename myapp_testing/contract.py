"""Test helpers shared by every feature's tests (not collected by pytest itself).

``CrudContract`` is the HTTP contract (shared/docs/api-contract.md) of one CRUD
resource as a set of tests: a feature's test module subclasses it, names its
collection, and adds tests for what is its own.
"""

import json
import re
import threading
from datetime import date, datetime, timedelta
from hashlib import sha256
from urllib.parse import urlencode

import pytest
from itsdangerous import Signer
from jsonschema import Draft4Validator, FormatChecker

from myapp.api.fields import parse_date_time
from myapp.api.model import MODELS

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


# --- bodies from the declaration -----------------------------------------------

# Stands for "leave this member out" in a case's changes.
ABSENT = object()
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def _text(field, label, n):
    """A string of the field's bounds: ``label`` when given and it fits, else vn."""
    schema = field.schema
    low, high = schema.get("minLength", 0), schema["maxLength"]
    text = label if label is not None else f"v{n:03d}"
    if high < len(text):
        text = "abcdefghijklmnopqrstuvwxyz"[n % 26] * high if label is None else text
        text = text[:high]
    return text + "x" * max(0, low - len(text))


def _number_in(schema, n, whole):
    low, high = schema.get("minimum"), schema.get("maximum")
    step = 1 if whole else 1.25
    if low is None and high is None:
        return n * step + (0 if whole else 0.5)
    if low is not None and high is not None:
        span = high - low
        if whole:
            return low + n % (span + 1)
        return low + span * ((n % 64) + 0.5) / 64
    if low is not None:
        return low + n * step + (0 if whole else 0.5)
    return high - n * step - (0 if whole else 0.5)


def example_value(field, n, label=None, reference=None):
    """A valid value #n of ``field`` (distinct and increasing in n where it can be).

    ``reference`` makes the id of an existing record for a reference field.
    """
    kind, schema = field.kind, field.schema
    if kind == "string":
        return _text(field, label, n)
    if kind == "enum":
        return schema["enum"][n % len(schema["enum"])]
    if kind == "date":
        return (date(2024, 1, 1) + timedelta(days=n)).isoformat()
    if kind == "date-time":
        moment = datetime(2024, 1, 1, 12, 0, 0, 123456) + timedelta(hours=n)
        # Sent with an offset; the service returns it in UTC with Z.
        return moment.isoformat() + "+02:00"
    if kind == "integer":
        return _number_in(schema, n, whole=True)
    if kind == "number":
        return _number_in(schema, n, whole=False)
    if kind == "boolean":
        return n % 2 == 1
    if kind == "array":
        return [f"t{n}", "x"][: schema["maxItems"]]
    if kind == "reference":
        return reference(field, n)
    raise AssertionError(f"no example for {kind}")


def query_value(value):
    """A field's JSON value as a query-string filter value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def invalid_values(field):
    """(label, value, paths) of values the field must refuse, each one failure."""
    kind, schema, name = field.kind, field.schema, field.name
    path = [f"/{name}"]
    cases = [("null", None, path)]
    if kind == "string":
        high = schema["maxLength"]
        cases += [
            ("number", 5, path),
            ("array", ["a"], path),
            ("too long", "x" * (high + 1), path),
            ("too long in emoji", "\U0001f600" * (high + 1), path),
        ]
        if schema.get("minLength", 0) > 0:
            cases.append(("too short", "x" * (schema["minLength"] - 1), path))
    elif kind == "enum":
        other = "-".join(schema["enum"]) + "-not"
        cases += [("not in the enum", other, path), ("number", 1, path)]
    elif kind == "date":
        cases += [
            ("month 13", "2024-13-01", path),
            ("February 30", "2024-02-30", path),
            ("with a time", "2024-01-01T00:00:00Z", path),
            ("basic format", "20240101", path),
            ("number", 20240101, path),
        ]
    elif kind == "date-time":
        cases += [
            ("date only", "2024-01-01", path),
            ("no offset", "2024-01-01T00:00:00", path),
            ("hour 25", "2024-01-01T25:00:00Z", path),
            ("offset 24:00", "2024-01-01T00:00:00+24:00", path),
            ("space", "2024-01-01 00:00:00Z", path),
            ("number", 1, path),
        ]
    elif kind in ("integer", "reference"):
        low, high = schema["minimum"], schema["maximum"]
        cases += [
            ("string", "1", path),
            ("fraction", 1.5, path),
            ("boolean", True, path),
            ("below minimum", low - 1, path),
            ("above maximum", high + 1, path),
        ]
    elif kind == "number":
        cases += [
            ("string", "1.5", path),
            ("boolean", True, path),
            ("not a double", 2**53 + 1, path),
        ]
        if "minimum" in schema:
            cases.append(("below minimum", schema["minimum"] - 1, path))
        if "maximum" in schema:
            cases.append(("above maximum", schema["maximum"] + 1, path))
    elif kind == "boolean":
        cases += [("string", "true", path), ("number", 1, path)]
    elif kind == "array":
        items = schema["items"]
        cases += [
            ("string", "a", path),
            ("number item", [1], [f"/{name}/0"]),
            ("long item", ["x" * (items["maxLength"] + 1)], [f"/{name}/0"]),
            ("too many", ["a"] * (schema["maxItems"] + 1), path),
        ]
    return cases


def invalid_cases(model):
    """(id, changes to a valid body, expected error paths) for every way to fail.

    Built from the declaration: each type, bound and enum of each field, null,
    each required field missing, an extra member, each read-only member, and one
    body with several failures.
    """
    cases = []
    for field in model.declared:
        for label, value, paths in invalid_values(field):
            cases.append((f"{field.name} {label}", {field.name: value}, paths))
        if field.required:
            cases.append(
                (f"{field.name} missing", {field.name: ABSENT}, [f"/{field.name}"])
            )
    required = [field.name for field in model.declared if field.required]
    if len(required) > 1:
        cases.append(
            (
                "all missing",
                dict.fromkeys(required, ABSENT),
                [f"/{n}" for n in required],
            )
        )
    cases += [
        ("extra member", {"colour": "red"}, ["/colour"]),
        ("id", {"id": 1}, ["/id"]),
        ("created_at", {"created_at": "2020-01-01T00:00:00Z"}, ["/created_at"]),
        ("updated_at", {"updated_at": "2020-01-01T00:00:00Z"}, ["/updated_at"]),
    ]
    first = model.declared[0]
    wrong = 5 if first.kind != "integer" and first.kind != "reference" else "5"
    if first.kind == "number":
        wrong = "5"
    cases.append(
        (
            "several",
            {first.name: wrong, "extra": 2, "updated_at": 3},
            sorted([f"/{first.name}", "/extra", "/updated_at"]),
        )
    )
    return cases


# A query value each kind cannot parse (free text parses as anything).
UNPARSABLE = {
    "integer": "abc",
    "reference": "1.5",
    "number": "abc",
    "boolean": "maybe",
    "date": "2024-13-01",
    "date-time": "2024-01-01",
    "enum": "not-one-of-them",
}
COMPARE = {
    "eq": lambda a, b: a == b,
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
}


def invalid_patches(model):
    """(id, merge patch, expected error paths) whose merged result is invalid."""
    cases = []
    for field in model.declared:
        if field.required:
            cases.append((f"{field.name} null", {field.name: None}, [f"/{field.name}"]))
        for label, value, paths in invalid_values(field)[1:3]:
            cases.append((f"{field.name} {label}", {field.name: value}, paths))
    cases += [
        ("id", {"id": 3}, ["/id"]),
        ("other", {"other": {"deep": 1}}, ["/other"]),
        ("created_at null", {"created_at": None}, ["/created_at"]),
    ]
    return cases


def apply_changes(body, changes):
    result = dict(body)
    for name, value in changes.items():
        if value is ABSENT:
            result.pop(name, None)
        else:
            result[name] = value
    return result


def example_body(model, client, n=0, label=None, full=True, headers=None, made=None):
    """A valid write body #n for ``model``: every field (``full``) or the required.

    ``label`` is the text of the first string field that is not unique (tests that
    name records); a reference gets the id of a record made in its feature (kept
    in ``made`` by (feature, n % 3), and reused from there).
    """
    text = next(
        (f for f in model.declared if f.kind == "string" and not f.unique), None
    )
    made = {} if made is None else made

    def reference(field, n):
        key = (field.references, n % 3)
        if key not in made:
            target = MODELS[field.references]
            response = client.post(
                f"/v1/{target.resource}/",
                json=example_body(target, client, n % 3, headers=headers, made=made),
                headers=headers,
            )
            assert response.status_code == 201, response.data
            made[key] = response.get_json()["id"]
        return made[key]

    return {
        field.name: example_value(field, n, label if field is text else None, reference)
        for field in model.declared
        if full or field.required
    }


class CrudContract:
    """The contract of one CRUD resource; subclass and set ``feature``.

    Every body comes from the feature's declaration (``example_body``,
    ``invalid_cases``), so any declared fields get the whole contract.
    """

    feature = None
    # Ids that name nothing: unknown, malformed, out of range.
    missing_ids = ()

    def pytest_generate_tests(self, metafunc):
        """Parametrize by what the feature declares (pytest calls this per test)."""
        model = MODELS[self.feature]
        cases = {
            "invalid_case": [
                (case_id, (changes, paths))
                for case_id, changes, paths in invalid_cases(model)
            ],
            "invalid_patch": [
                (case_id, (changes, paths))
                for case_id, changes, paths in invalid_patches(model)
            ],
            "sort_field": [(name, name) for name in model.sortable],
            "filter_case": [
                (f"{name}[{operator}]", (name, operator))
                for name, operators in model.filters.items()
                for operator in operators
            ],
            "unparsable_filter": [
                (field.name, (field.name, UNPARSABLE[field.kind]))
                for field in model.declared
                if field.name in model.filters and field.kind in UNPARSABLE
            ],
            "unique_field": [(f.name, f.name) for f in model.declared if f.unique],
            "reference_field": [
                (f.name, f.name) for f in model.declared if f.references
            ],
        }
        for fixture, entries in cases.items():
            if fixture in metafunc.fixturenames:
                metafunc.parametrize(
                    fixture,
                    [value for _, value in entries],
                    ids=[i for i, _ in entries],
                )

    @property
    def model(self):
        return MODELS[self.feature]

    def body(self, client, n=None, label=None, full=True, headers=None):
        """A valid body; each call without ``n`` gets new values (unique fields)."""
        if n is None:
            self._made = n = getattr(self, "_made", -1) + 1
        return example_body(
            self.model, client, n, label, full, headers, self.references
        )

    @property
    def references(self):
        """The records made for reference fields in this test, by (feature, n)."""
        if not hasattr(self, "references_made"):
            self.references_made = {}
        return self.references_made

    def delete_references_made(self, client):
        """Delete the referenced records made (tests outside the rollback)."""
        for (feature, _), id in reversed(
            list(getattr(self, "references_made", {}).items())
        ):
            client.delete(f"/v1/{feature}/{id}")

    def expected(self, body):
        """What a read returns of the fields of a valid ``body``."""
        return self.model.canonical(body)

    @property
    def text_field(self):
        """The first string field that is not unique (what labels name), or None."""
        return next(
            (f for f in self.model.declared if f.kind == "string" and not f.unique),
            None,
        )

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

    def create(self, client, label=None, **kwargs):
        """Create a record with new values (``label`` as its text, if it has one)."""
        body = self.body(client, label=label, headers=kwargs.get("headers"))
        response = client.post(self.collection, json=body, **kwargs)
        assert response.status_code == 201, response.data
        return response

    def fields_of(self, document):
        return {
            name: document[name] for name in self.model.writable if name in document
        }

    # --- create -------------------------------------------------------------

    def test_create_returns_the_resource_with_location_and_etag(self, client, spec):
        body = self.body(client)
        response = client.post(self.collection, json=body)
        created = spec.check(response, "POST", self.list_template)
        assert response.status_code == 201
        assert self.fields_of(created) == self.expected(body)
        assert created["created_at"] == created["updated_at"]
        assert response.headers["Location"] == f"{self.collection}{created['id']}"
        assert STRONG_ETAG.fullmatch(response.headers["ETag"])

        fetched = client.get(response.headers["Location"])
        assert spec.check(fetched, "GET", self.item_template) == created
        assert fetched.headers["ETag"] == response.headers["ETag"]

    def test_optional_fields_absent_are_left_out(self, client, spec):
        body = self.body(client, full=False)
        response = client.post(self.collection, json=body)
        created = spec.check(response, "POST", self.list_template)
        assert self.fields_of(created) == self.expected(body)
        assert client.get(response.headers["Location"]).get_json() == created

    @pytest.mark.parametrize(
        "text",
        [
            lambda high: "a",
            lambda high: "x" * high,
            lambda high: "😀" * high,
            lambda high: "  spaces kept  ",
            lambda high: "e\u0301 vs \u00e9",
            lambda high: "\u05e9\u05dc\u05d5\u05dd \u4f60\u597d",
            lambda high: "tab\tnew\nline",
            lambda high: '"quotes" & <tags> \\ /',
        ],
        ids=["one", "longest", "emoji", "spaces", "accents", "scripts", "tab", "quote"],
    )
    def test_text_is_stored_exactly_as_sent(self, client, text):
        field = self.text_field
        if field is None:
            pytest.skip("no free-text field")
        value = text(field.schema["maxLength"])[: field.schema["maxLength"]]
        value += "x" * (field.schema.get("minLength", 0) - len(value))
        created = self.create(client, value).get_json()
        assert created[field.name] == value
        assert client.get(f"{self.collection}{created['id']}").get_json() == created

    def test_invalid_bodies_are_400_with_every_error(self, client, spec, invalid_case):
        changes, paths = invalid_case
        body = apply_changes(self.body(client), changes)
        response = client.post(self.collection, json=body)
        problem = assert_problem(response, 400, with_errors=True)
        spec.check(response, "POST", self.list_template)
        found = sorted({error["path"] for error in problem["errors"]})
        assert found == sorted(set(paths))
        assert all(error["message"] for error in problem["errors"])
        assert client.get(self.collection).get_json()["total"] == 0

    def test_an_empty_body_names_every_required_field(self, client):
        required = sorted(f"/{f.name}" for f in self.model.declared if f.required)
        response = client.post(self.collection, json={})
        if not required:
            assert response.status_code == 201
            return
        problem = assert_problem(response, 400, with_errors=True)
        assert sorted(error["path"] for error in problem["errors"]) == required

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
        texts = [f for f in self.model.declared if f.kind in ("string", "array")]
        if not texts:
            pytest.skip("no text field")
        field = texts[0]
        body = json.dumps(self.body(client))[:-1]
        surrogate = '"\\ud800"' if field.kind == "string" else '["\\ud800"]'
        body += f', "{field.name}": {surrogate}}}'
        response = client.post(
            self.collection, data=body.encode(), content_type="application/json"
        )
        problem = assert_problem(response, 400, with_errors=True)
        paths = [error["path"] for error in problem["errors"]]
        assert paths == [f"/{field.name}" + ("/0" if field.kind == "array" else "")]

    @pytest.mark.parametrize(
        "content_type", ["text/plain", "application/x-www-form-urlencoded", None]
    )
    def test_non_json_content_type_is_415(self, client, spec, content_type):
        response = client.post(
            self.collection,
            data=json.dumps(self.body(client)).encode(),
            content_type=content_type,
        )
        assert_problem(response, 415)
        spec.check(response, "POST", self.list_template)

    def test_body_larger_than_the_limit_is_413(self, client, app, spec):
        limit = app.config["MAX_CONTENT_LENGTH"]
        response = client.post(
            self.collection,
            data=_padded_json(self.body(client), limit + 1),
            content_type="application/json",
        )
        assert_problem(response, 413)
        spec.check(response, "POST", self.list_template)
        assert client.get(self.collection).get_json()["total"] == 0

    def test_body_of_exactly_the_limit_is_accepted(self, client, app):
        limit = app.config["MAX_CONTENT_LENGTH"]
        response = client.post(
            self.collection,
            data=_padded_json(self.body(client), limit),
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
        body = self.body(client, label="after")
        response = client.put(location, json=body)
        replaced = spec.check(response, "PUT", self.item_template)
        assert response.status_code == 200
        before = created.get_json()
        assert self.fields_of(replaced) == self.expected(body)
        assert replaced["id"] == before["id"]
        assert replaced["created_at"] == before["created_at"]
        assert replaced["updated_at"] > before["updated_at"]
        assert response.headers["ETag"] != created.headers["ETag"]
        fetched = client.get(location)
        assert fetched.get_json() == replaced
        assert fetched.headers["ETag"] == response.headers["ETag"]

    def test_put_drops_the_optional_fields_it_leaves_out(self, client):
        location = self.create(client).headers["Location"]
        body = self.body(client, full=False)
        response = client.put(location, json=body)
        assert response.status_code == 200, response.data
        assert self.fields_of(response.get_json()) == self.expected(body)

    def test_put_with_invalid_body_changes_nothing(self, client, spec):
        created = self.create(client)
        location = created.headers["Location"]
        first = self.model.declared[0]
        wrong = invalid_values(first)[1][1]
        response = client.put(
            location, json={**self.body(client), first.name: wrong, "id": 7}
        )
        problem = assert_problem(response, 400, with_errors=True)
        spec.check(response, "PUT", self.item_template)
        paths = sorted({e["path"] for e in problem["errors"]})
        assert paths == sorted(["/id", f"/{first.name}"])
        assert client.get(location).get_json() == created.get_json()

    def test_put_unknown_id_is_404(self, client, spec):
        response = client.put(
            f"{self.collection}{self.missing_ids[0]}", json=self.body(client)
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
        body = self.body(client)
        for header in ['"stale"', f"W/{etag}", "garbage"]:
            response = getattr(client, method)(
                location, json=body, headers={"If-Match": header}
            )
            assert_problem(response, 412)
            spec.check(response, method.upper(), self.item_template)
        fetched = client.get(location)
        assert fetched.get_json() == created.get_json()

    @pytest.mark.parametrize("method", ["put", "patch"])
    def test_matching_if_match_applies_the_write(self, client, method):
        created = self.create(client)
        location, etag = created.headers["Location"], created.headers["ETag"]
        one, two, three = (self.body(client) for _ in range(3))
        response = getattr(client, method)(
            location, json=one, headers={"If-Match": f'"x", {etag}'}
        )
        assert response.status_code == 200
        response = getattr(client, method)(
            location, json=two, headers={"If-Match": "*"}
        )
        assert response.status_code == 200
        stale = getattr(client, method)(
            location, json=three, headers={"If-Match": etag}
        )
        assert_problem(stale, 412)
        assert self.fields_of(client.get(location).get_json()) == self.expected(two)

    def test_if_none_match_on_a_write_that_matches_is_412(self, client):
        created = self.create(client)
        response = client.put(
            created.headers["Location"],
            json=self.body(client),
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
        first = self.model.declared[0].name
        change = {first: self.body(client, label="after")[first]}
        response = client.patch(
            location, data=json.dumps(change), content_type=content_type
        )
        patched = spec.check(response, "PATCH", self.item_template)
        before = self.fields_of(created.get_json())
        assert self.fields_of(patched) == {**before, **self.expected(change)}
        assert patched["created_at"] == created.get_json()["created_at"]
        assert client.get(location).get_json() == patched
        assert client.get(location).headers["ETag"] == response.headers["ETag"]

    def test_null_in_a_patch_removes_each_optional_field(self, client):
        optional = [f.name for f in self.model.declared if not f.required]
        if not optional:
            pytest.skip("every field is required")
        created = self.create(client).get_json()
        location = f"{self.collection}{created['id']}"
        for name in optional:
            assert name in created
            response = client.patch(
                location,
                data=json.dumps({name: None}),
                content_type="application/merge-patch+json",
            )
            assert response.status_code == 200, response.data
            assert name not in response.get_json()
            assert client.get(location).get_json() == response.get_json()

    def test_empty_patch_keeps_the_fields(self, client):
        created = self.create(client, "same")
        response = client.patch(
            created.headers["Location"],
            data=b"{}",
            content_type="application/merge-patch+json",
        )
        assert response.status_code == 200
        assert self.fields_of(response.get_json()) == self.fields_of(created.get_json())

    def test_patch_whose_result_is_invalid_is_400(self, client, spec, invalid_patch):
        patch, paths = invalid_patch
        created = self.create(client)
        location = created.headers["Location"]
        response = client.patch(
            location,
            data=json.dumps(patch),
            content_type="application/merge-patch+json",
        )
        problem = assert_problem(response, 400, with_errors=True)
        spec.check(response, "PATCH", self.item_template)
        assert sorted({error["path"] for error in problem["errors"]}) == paths
        assert client.get(location).get_json() == created.get_json()

    @pytest.mark.parametrize(
        "data, content_type, status",
        [
            (b"[]", "application/merge-patch+json", 400),
            (b"{", "application/merge-patch+json", 400),
            (b"{}", "application/json-patch+json", 415),
            (b"{}", "text/plain", 415),
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
            f"{self.collection}{self.missing_ids[0]}", json=self.body(client)
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
            model = MODELS[collection.strip("/").split("/")[-1]]
            for n in range(2):
                body = example_body(model, client, n, made=self.references)
                assert client.post(collection, json=body).status_code == 201
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

    # --- sorts (SQL features) ----------------------------------------------------

    def sort_key(self, name, item):
        """How a sort orders a field's JSON value (as every database does)."""
        value = item.get(name)
        return (value is not None, value)

    def test_sort_by_each_sortable_field(self, client, spec, sort_field):
        created = [self.create(client).get_json() for _ in range(3)]
        created = [created[1], created[2], created[0]]  # not in creation order
        for descending in (False, True):
            prefix = "-" if descending else ""
            response = client.get(f"{self.collection}?sort={prefix}{sort_field}")
            body = spec.check(response, "GET", self.list_template)
            expected = sorted(
                created,
                key=lambda item: (self.sort_key(sort_field, item), item["id"]),
                reverse=descending,
            )
            assert body["items"] == expected, f"sort={prefix}{sort_field}"

    def test_sort_by_two_keys(self, client, spec):
        keys = [f.name for f in self.model.declared if f.indexed][:2]
        if len(keys) < 2 or not self.model.sortable:
            pytest.skip("fewer than two sortable fields")
        first, second = keys
        created = [self.create(client).get_json() for _ in range(4)]
        # Two records share the first key, so the second one decides between them.
        response = client.patch(
            f"{self.collection}{created[3]['id']}",
            json={first: created[0][first]},
            content_type="application/merge-patch+json",
        )
        if response.status_code == 409:
            pytest.skip(f"{first} is unique: no ties")
        created[3] = response.get_json()
        response = client.get(f"{self.collection}?sort=-{first},{second}")
        body = spec.check(response, "GET", self.list_template)
        expected = sorted(created, key=lambda item: item["id"])
        expected.sort(key=lambda item: self.sort_key(second, item))
        expected.sort(key=lambda item: self.sort_key(first, item), reverse=True)
        assert body["items"] == expected

    def test_filters_by_each_declared_operator(self, client, spec, filter_case):
        name, operator = filter_case
        created = [self.create(client).get_json() for _ in range(3)]
        pivot = created[1][name]
        parameter = name if operator == "eq" else f"{name}[{operator}]"
        response = client.get(
            self.collection, query_string={parameter: query_value(pivot)}
        )
        body = spec.check(response, "GET", self.list_template)
        kind = self.model.by_name[name].kind
        typed = parse_date_time if kind == "date-time" else (lambda value: value)
        expected = [
            item
            for item in created
            if COMPARE[operator](typed(item[name]), typed(pivot))
        ]
        assert body["items"] == expected, f"{parameter}={pivot}"
        assert body["total"] == len(expected)

    def test_filters_combine_with_and(self, client):
        filters = [(n, ops[0]) for n, ops in self.model.filters.items()][:2]
        if len(filters) < 2:
            pytest.skip("fewer than two filterable fields")
        created = [self.create(client).get_json() for _ in range(3)]
        query = {
            (name if operator == "eq" else f"{name}[{operator}]"): query_value(
                created[2][name]
            )
            for name, operator in filters
        }
        expected = [
            item
            for item in created
            if all(
                COMPARE[op](
                    *(
                        (parse_date_time(v) for v in (item[n], created[2][n]))
                        if self.model.by_name[n].kind == "date-time"
                        else (item[n], created[2][n])
                    )
                )
                for n, op in filters
            )
        ]
        body = client.get(self.collection, query_string=query).get_json()
        assert body["items"] == expected, query

    def test_a_filter_value_that_does_not_parse_is_400(
        self, client, spec, unparsable_filter
    ):
        name, value = unparsable_filter
        response = client.get(self.collection, query_string={name: value})
        problem = assert_problem(response, 400)
        spec.check(response, "GET", self.list_template)
        assert name in problem["detail"]

    # --- references and unique fields (SQL features) ------------------------------

    def test_a_reference_to_a_missing_record_is_422(
        self, client, spec, reference_field
    ):
        existing = self.create(client)
        location = existing.headers["Location"]
        missing = self.model.by_name[reference_field].schema["maximum"]
        body = {**self.body(client), reference_field: missing}
        writes = [
            (
                "POST",
                self.list_template,
                lambda: client.post(self.collection, json=body),
            ),
            ("PUT", self.item_template, lambda: client.put(location, json=body)),
            (
                "PATCH",
                self.item_template,
                lambda: client.patch(location, json={reference_field: missing}),
            ),
        ]
        for method, template, write in writes:
            response = write()
            problem = assert_problem(response, 422, with_errors=True)
            spec.check(response, method, template)
            assert [e["path"] for e in problem["errors"]] == [f"/{reference_field}"]
        assert client.get(self.collection).get_json()["total"] == 1
        assert client.get(location).get_json() == existing.get_json()

    def test_deleting_a_referenced_record_is_409(self, client, reference_field):
        target = self.model.by_name[reference_field].references
        created = self.create(client).get_json()
        referenced = f"/v1/{target}/{created[reference_field]}"
        before = client.get(referenced).get_json()
        problem = assert_problem(client.delete(referenced), 409)
        assert self.feature in problem["detail"]
        assert client.get(referenced).get_json() == before
        assert client.delete(f"{self.collection}{created['id']}").status_code == 204
        assert client.delete(referenced).status_code == 204

    def test_a_duplicate_unique_value_is_409(self, client, spec, unique_field):
        first = self.create(client).get_json()
        second = self.create(client)
        location = second.headers["Location"]
        taken = {**self.body(client), unique_field: first[unique_field]}
        writes = [
            (
                "POST",
                self.list_template,
                lambda: client.post(self.collection, json=taken),
            ),
            ("PUT", self.item_template, lambda: client.put(location, json=taken)),
            (
                "PATCH",
                self.item_template,
                lambda: client.patch(
                    location, json={unique_field: first[unique_field]}
                ),
            ),
        ]
        for method, template, write in writes:
            response = write()
            problem = assert_problem(response, 409, with_errors=True)
            spec.check(response, method, template)
            assert [e["path"] for e in problem["errors"]] == [f"/{unique_field}"]
        assert client.get(self.collection).get_json()["total"] == 2
        assert client.get(location).get_json() == second.get_json()
        # A record keeps its own value.
        again = client.put(
            f"{self.collection}{first['id']}", json=self.fields_of(first)
        )
        assert again.status_code == 200, again.data

    def test_concurrent_writers_of_a_unique_value_cannot_both_win(
        self, make_app, database_url, unique_field
    ):
        if database_url.startswith("sqlite"):
            pytest.skip("SQLite runs one writer at a time: a race needs a server")
        self.unique_race(make_app(isolated=False), unique_field)

    def unique_race(self, app, field, clients=16):
        """16 clients create records with the same unique value at once: one wins."""
        client = app.test_client()
        value = self.body(client)[field]
        bodies = [{**self.body(client), field: value} for _ in range(clients)]
        barrier = threading.Barrier(clients)
        responses = []

        def post(n):
            own = app.test_client()
            barrier.wait()
            responses.append(own.post(self.collection, json=bodies[n]))

        threads = [threading.Thread(target=post, args=(n,)) for n in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        try:
            statuses = sorted(response.status_code for response in responses)
            assert statuses == [201] + [409] * (clients - 1), statuses
            page = client.get(self.collection).get_json()
            assert [item[field] for item in page["items"]] == [value]
        finally:
            for response in responses:
                if response.status_code == 201:
                    client.delete(response.headers["Location"])
            self.delete_references_made(client)

    # --- cross-cutting ------------------------------------------------------

    @pytest.mark.parametrize(
        "method, suffix", [("put", ""), ("delete", ""), ("patch", ""), ("post", "x")]
    )
    def test_method_not_allowed_is_405_with_allow(self, client, method, suffix):
        target = self.collection + suffix
        if suffix:
            target = f"{self.collection}{self.create(client).get_json()['id']}"
        response = getattr(client, method)(target, json={})
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
        good = {"Authorization": "Bearer s3cret"}
        body = self.body(client, headers=good)
        for headers in [
            {},
            {"Authorization": "Bearer wrong"},
            {"Authorization": "s3cret"},
        ]:
            response = client.post(self.collection, json=body, headers=headers)
            assert_problem(response, 401)
            assert response.headers["WWW-Authenticate"] == "Bearer"
        assert client.get(self.collection).get_json()["total"] == 0

        created = client.post(self.collection, json=body, headers=good)
        assert created.status_code == 201
        location = created.headers["Location"]
        changed = self.body(client, headers=good)
        for method in ("put", "patch", "delete"):
            response = getattr(client, method)(location, json=changed)
            assert_problem(response, 401)
        assert client.get(location).get_json() == created.get_json()
        assert client.put(location, json=changed, headers=good).status_code == 200
        other = {"Authorization": "bearer other"}
        assert client.delete(location, headers=other).status_code == 204

    # --- concurrency --------------------------------------------------------

    def race(self, app, clients=16):
        """16 clients PUT with the same If-Match at once: one wins, 15 get 412."""
        client = app.test_client()
        created = client.post(self.collection, json=self.body(client))
        location, etag = created.headers["Location"], created.headers["ETag"]
        bodies = [self.body(client) for _ in range(clients)]
        barrier = threading.Barrier(clients)
        statuses = []

        def put(n):
            own = app.test_client()
            barrier.wait()
            response = own.put(location, json=bodies[n], headers={"If-Match": etag})
            statuses.append(response.status_code)

        threads = [threading.Thread(target=put, args=(n,)) for n in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        try:
            assert sorted(statuses) == [200] + [412] * (clients - 1)
            final = self.fields_of(client.get(location).get_json())
            assert final in [self.expected(body) for body in bodies]
        finally:
            client.delete(location)
            self.delete_references_made(client)
