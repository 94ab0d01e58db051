"""The quick check of valid bodies (jsonschema-rs) never changes a verdict.

SchemaValidator answers a body jsonschema-rs finds valid without asking
jsonschema; these tests hold that to giving, for every document, exactly the
errors jsonschema alone gives, for every field type and its edges.
"""

import os
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from myapp.api.fields import INT64_MAX, INT64_MIN, MAX_ID, declare
from myapp.api.schemas import SchemaValidator
from myapp.api.test_fields import EVERY_TYPE

FIELDS = {
    **EVERY_TYPE,
    "name": {"type": "string", "maxLength": 3},
    "owner_id": {"type": "integer", "x-references": "foo"},
    "level": {"type": "integer", "minimum": -5, "maximum": 5},
}


def write_schema(fields, required):
    declared = declare(fields, required, ())
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "properties": {field.name: field.schema for field in declared},
        "additionalProperties": False,
        "required": list(required),
    }


VALIDATOR = SchemaValidator(write_schema(FIELDS, ("title",)), read_only={"id"})

# The edges of every bound a field may have, and the values either side.
EDGES = [INT64_MIN, INT64_MAX, MAX_ID, 0, 1, 5, -5, 2**53, 2**64, 10**30]
integers = (
    st.sampled_from(EDGES).flatmap(
        lambda edge: st.sampled_from([edge - 1, edge, edge + 1])
    )
    | st.integers()
)
numbers = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from(
    [0.0, -0.0, 1.0, 1.5, 0.999999999, 1.0000000001, 5.0, 1e308, 2.0**63]
)
dates = st.sampled_from(
    [
        "2024-02-29",
        "2023-02-29",
        "2024-1-01",
        "2024-01-01T00:00:00Z",
        "2024-01-01T00:00:00.123456+02:00",
        "2024-01-01t00:00:00z",
        "2024-01-01 00:00:00Z",
        "2024-01-01T24:00:00Z",
        "2024-01-01T00:00:60Z",
        "2024-01-01T00:00:00",
        "0000-01-01",
        "9999-12-31T23:59:59.999999-23:59",
        "２０２４-01-01",
    ]
)
texts = (
    st.text(max_size=5)
    | st.text(alphabet=string.ascii_letters, min_size=1, max_size=4)
    | st.sampled_from(["", "novel", "poetry", "Novel", "a\ud800", "\U0001f600" * 3])
    | dates
)
scalars = st.none() | st.booleans() | integers | numbers | texts
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=12) | st.dictionaries(texts, inner),
    max_leaves=15,
)
names = st.sampled_from([*FIELDS, "id", "created_at", "other"])
documents = st.dictionaries(names, values) | st.dictionaries(
    names, scalars | st.lists(texts, max_size=12)
)


@pytest.mark.skipif(
    bool(os.environ.get("TEST_DATABASE_URL")),
    reason="no store involved: run in the SQLite pass only",
)
@settings(
    max_examples=1500,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(document=documents | values)
def test_the_quick_check_gives_the_errors_jsonschema_gives(document):
    assert VALIDATOR.errors(document) == VALIDATOR._every_error(document)


@pytest.mark.parametrize(
    "document",
    [
        {"title": "a", "count": INT64_MAX},
        {"title": "a", "count": INT64_MIN, "owner_id": MAX_ID},
        {"title": "a", "pages": 1.0},
        {"title": "abc", "name": "\U0001f600" * 3},
        {"title": "a", "printed_at": "2024-01-01T00:00:00.5-23:59"},
    ],
)
def test_valid_edges_are_valid(document):
    assert VALIDATOR.errors(document) == VALIDATOR._every_error(document) == []


@pytest.mark.parametrize(
    "document",
    [
        {"title": "a", "count": INT64_MAX + 1},
        {"title": "a", "count": INT64_MIN - 1},
        {"title": "a", "owner_id": MAX_ID + 1},
        {"title": "a", "pages": 1.5},
        {"title": "a", "price": 2**53 + 1},
        {"title": "a", "published": 1},
        {"title": "a", "genre": "Novel"},
        {"title": "a\ud800"},
        {"title": "a", "tags": ["x"] * 11},
        {"title": "a", "released_on": "2023-02-29"},
        {"title": "a", "printed_at": "2024-01-01T00:00:00"},
        {"title": "a", "id": 1},
    ],
)
def test_invalid_edges_get_the_errors_jsonschema_gives(document):
    errors = VALIDATOR.errors(document)
    assert errors and errors == VALIDATOR._every_error(document)


def test_a_valid_document_is_answered_by_the_quick_check():
    document = {"title": "a", "pages": 1, "printed_at": "2024-01-01T00:00:00Z"}
    assert VALIDATOR.quick.is_valid(document)
    assert VALIDATOR.errors(document) == []


def test_a_pattern_is_left_to_jsonschema():
    """Rust's regular expressions are not Python's: no quick check for them."""
    fields = {"code": {"type": "string", "maxLength": 9, "pattern": "^[a-z]+$"}}
    validator = SchemaValidator(write_schema(fields, ("code",)))
    assert validator.quick is None
    assert validator.errors({"code": "abc"}) == []
    assert validator.errors({"code": "abc\n"}) == []  # Python's $, as before
    assert validator.errors({"code": "ABC"})[0]["path"] == "/code"
