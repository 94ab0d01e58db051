"""Every field type, references and unique fields, on probe features.

The probes are declared here like any feature (one property per field) on tables
of their own metadata, created for this module and dropped after it, so the app's
migrations know nothing of them. Each gets the whole shared contract, on every
database of the run, plus what only typed fields have.
"""

import threading

import pytest
import sqlalchemy as sa
from flask import Blueprint
from flask_restx import Resource

from myapp import create_app
from myapp.api import views
from myapp.api.fields import INT64_MAX, INT64_MIN, parse_date_time
from myapp.api.redis_model import RedisModel
from myapp.api.crud_docs import CrudDocs
from myapp.api.feature_api import FeatureApi
from myapp.api.fields import MAX_ID
from myapp.api.sql_model import SqlModel
from myapp_testing.contract import CrudContract, assert_problem
from myapp.db import sql

probe_metadata = sa.MetaData()

EVERY_TYPE = {
    "title": {"type": "string", "minLength": 1, "maxLength": 200},
    "pages": {"type": "integer", "minimum": 1},
    "count": {"type": "integer"},
    "price": {"type": "number"},
    "ratio": {"type": "number", "minimum": 0, "maximum": 1},
    "published": {"type": "boolean"},
    "released_on": {"type": "string", "format": "date"},
    "printed_at": {"type": "string", "format": "date-time"},
    "genre": {"type": "string", "enum": ["novel", "poetry"]},
    "tags": {
        "type": "array",
        "items": {"type": "string", "maxLength": 200},
        "maxItems": 10,
    },
}


class ProbeAuthorModel(SqlModel):
    resource = "probe_author"
    metadata = probe_metadata
    fields = {"name": {"type": "string", "minLength": 1, "maxLength": 40}}
    required = ("name",)


class ProbeBookModel(SqlModel):
    resource = "probe_book"
    metadata = probe_metadata
    fields = {
        **EVERY_TYPE,
        "isbn": {"type": "string", "maxLength": 20},
        "author_id": {"type": "integer", "x-references": "probe_author"},
    }
    required = ("title",)
    unique = ("isbn",)


class ProbeNoteModel(RedisModel):
    resource = "probe_note"
    fields = EVERY_TYPE
    required = ("title", "pages")


def probe_blueprint(model, id_route, id_param):
    """A feature's endpoints, written as every feature's endpoints.py is."""
    name = model.resource
    blueprint = Blueprint(name, __name__)
    api = FeatureApi(blueprint, name, title=f"{name} API", version="1.0")
    ns = api.namespace(name, path=f"/{name}", description=f"{name} probes")
    docs = CrudDocs(ns, model, name.title().replace("_", ""))

    @ns.route("/")
    class Collection(Resource):
        @docs.list
        def get(self):
            """List them"""
            return views.list_records(model)

        @docs.create
        def post(self):
            """Create one"""
            return views.create(model)

    @ns.route(id_route)
    @ns.param("id", "The id", **id_param)
    class Item(Resource):
        @docs.get
        def get(self, id):
            """Get one"""
            return views.get(model, id)

        @docs.replace
        def put(self, id):
            """Replace one"""
            return views.replace(model, id)

        @docs.patch
        def patch(self, id):
            """Patch one"""
            return views.patch(model, id)

        @docs.delete
        def delete(self, id):
            """Delete one"""
            return views.delete(model, id)

    return blueprint


SQL_ID = (
    f"/<int(min=1, max={MAX_ID}):id>",
    {"type": "integer", "minimum": 1, "maximum": MAX_ID},
)
REDIS_ID = ("/<string:id>", {"type": "string", "pattern": "^[0-9a-f]{32}$"})
PROBES = [
    probe_blueprint(ProbeAuthorModel, *SQL_ID),
    probe_blueprint(ProbeBookModel, *SQL_ID),
    probe_blueprint(ProbeNoteModel, *REDIS_ID),
]


@pytest.fixture(scope="module")
def probe_tables(migrated, store_config):
    app = create_app(dict(store_config))
    with app.app_context():
        probe_metadata.create_all(sql.engine)
    yield
    with app.app_context():
        probe_metadata.drop_all(sql.engine)
        sql.engine.dispose()


@pytest.fixture
def make_app(make_app, probe_tables):
    """The conftest's apps, serving the probes too."""

    def make(*args, **kwargs):
        app = make_app(*args, **kwargs)
        for blueprint in PROBES:
            app.register_blueprint(blueprint, url_prefix="/v1")
        return app

    return make


SQL_MISSING = ["12345", "0", "99999999999999999999", "2147483648", "abc", "-1"]


class TestProbeBookContract(CrudContract):
    feature = "probe_book"
    missing_ids = SQL_MISSING

    def test_race_has_exactly_one_winner(self, make_app):
        self.race(make_app(isolated=False))


class TestProbeNoteContract(CrudContract):
    feature = "probe_note"
    missing_ids = ["0" * 32, "abc", "0" * 33]

    def test_race_has_exactly_one_winner(self, make_app):
        self.race(make_app())


BOOK = "/v1/probe_book/"
NOTE = "/v1/probe_note/"


@pytest.fixture
def author(client):
    return client.post("/v1/probe_author/", json={"name": "Ann"}).get_json()


@pytest.mark.parametrize("collection", [BOOK, NOTE])
@pytest.mark.parametrize(
    "sent, returned",
    [
        ("2024-05-01T12:30:00Z", "2024-05-01T12:30:00.000000Z"),
        ("2024-05-01T12:30:00+02:00", "2024-05-01T10:30:00.000000Z"),
        ("2024-05-01t01:00:00.5-05:30", "2024-05-01T06:30:00.500000Z"),
        ("2024-12-31T23:59:59.1234569-01:00", "2025-01-01T00:59:59.123456Z"),
        ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00.000000Z"),
    ],
)
def test_date_times_are_returned_in_utc_with_microseconds(
    client, collection, sent, returned
):
    body = {"title": "t", "pages": 1, "printed_at": sent}
    created = client.post(collection, json=body)
    assert created.status_code == 201, created.data
    assert created.get_json()["printed_at"] == returned
    assert client.get(created.headers["Location"]).get_json()["printed_at"] == returned


@pytest.mark.parametrize("collection", [BOOK, NOTE])
@pytest.mark.parametrize(
    "moment", ["0001-01-01T00:00:00+00:01", "9999-12-31T23:59:59-00:01"]
)
def test_a_date_time_outside_the_years_1_to_9999_in_utc_is_400(
    client, collection, moment
):
    response = client.post(
        collection, json={"title": "t", "pages": 1, "printed_at": moment}
    )
    problem = assert_problem(response, 400, with_errors=True)
    assert [e["path"] for e in problem["errors"]] == ["/printed_at"]


@pytest.mark.parametrize("collection", [BOOK, NOTE])
@pytest.mark.parametrize(
    "value",
    [
        0.1,
        19.99,
        -0.5,
        1e-300,
        1.7976931348623157e308,
        2**53,
        -(2**53),
        123456789.12345679,
        5e-324,
    ],
)
def test_numbers_come_back_as_sent(client, collection, value):
    created = client.post(collection, json={"title": "t", "pages": 1, "price": value})
    assert created.status_code == 201, created.data
    for document in (
        created.get_json(),
        client.get(created.headers["Location"]).get_json(),
    ):
        assert document["price"] == value
        assert repr(float(document["price"])) == repr(float(value))


@pytest.mark.parametrize("collection", [BOOK, NOTE])
def test_a_number_out_of_double_range_is_400(client, collection):
    response = client.post(
        collection,
        data=b'{"title": "t", "pages": 1, "price": 1e400}',
        content_type="application/json",
    )
    problem = assert_problem(response, 400, with_errors=True)
    assert [e["path"] for e in problem["errors"]] == ["/price"]


@pytest.mark.parametrize("collection", [BOOK, NOTE])
def test_integers_hold_64_bits(client, collection):
    for value in (INT64_MIN, INT64_MAX, 0, -1):
        created = client.post(
            collection, json={"title": "t", "pages": 1, "count": value}
        )
        assert created.status_code == 201, created.data
        assert client.get(created.headers["Location"]).get_json()["count"] == value
    response = client.post(collection, json={"title": "t", "pages": 1, "count": 1.0})
    assert response.get_json()["count"] == 1
    assert isinstance(response.get_json()["count"], int)


def test_a_book_with_every_field_round_trips(client, author):
    body = {
        "title": "Dune",
        "isbn": "978-0441013593",
        "pages": 412,
        "count": -5,
        "price": 9.99,
        "ratio": 0.25,
        "published": True,
        "released_on": "1965-08-01",
        "printed_at": "2020-02-29T23:30:00-01:00",
        "genre": "novel",
        "tags": ["sf", "classic"],
        "author_id": author["id"],
    }
    created = client.post(BOOK, json=body)
    assert created.status_code == 201, created.data
    expected = {**body, "printed_at": "2020-03-01T00:30:00.000000Z"}
    document = created.get_json()
    assert {name: document[name] for name in body} == expected
    assert client.get(created.headers["Location"]).get_json() == document


def test_null_is_never_stored(client, author):
    created = client.post(BOOK, json={"title": "t", "author_id": author["id"]})
    location = created.headers["Location"]
    for member in ("author_id", "pages", "tags"):
        response = client.put(location, json={"title": "t", member: None})
        problem = assert_problem(response, 400, with_errors=True)
        assert [e["path"] for e in problem["errors"]] == [f"/{member}"]
    patched = client.patch(location, json={"author_id": None})
    assert "author_id" not in patched.get_json()
    assert client.get(location).get_json() == patched.get_json()


def test_two_unset_unique_values_do_not_clash(client):
    for _ in range(2):
        assert client.post(BOOK, json={"title": "no isbn"}).status_code == 201


def test_a_reference_made_while_its_target_is_deleted_never_dangles(
    make_app, database_url
):
    """Writers referencing a record race its deletion: the database decides."""
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite serialises writers: a race needs a server")
    app = make_app(isolated=False)
    client = app.test_client()
    target = client.post("/v1/probe_author/", json={"name": "doomed"})
    target_id = target.get_json()["id"]
    barrier = threading.Barrier(9)
    results = []

    def create():
        own = app.test_client()
        barrier.wait()
        results.append(own.post(BOOK, json={"title": "t", "author_id": target_id}))

    def delete():
        own = app.test_client()
        barrier.wait()
        results.append(own.delete(target.headers["Location"]))

    threads = [threading.Thread(target=create) for _ in range(8)]
    threads.append(threading.Thread(target=delete))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        books = [r for r in results if r.request.method == "POST"]
        deleted = [r for r in results if r.request.method == "DELETE"][0]
        made = [r for r in books if r.status_code == 201]
        assert all(r.status_code in (201, 422) for r in books)
        if deleted.status_code == 204:
            assert not made
        else:
            assert deleted.status_code == 409 and made
    finally:
        for response in books:
            if response.status_code == 201:
                client.delete(response.headers["Location"])
        client.delete(target.headers["Location"])


def test_parse_date_time_cuts_beyond_microseconds():
    assert parse_date_time("2024-01-01T00:00:00.9999999Z").microsecond == 999999


@pytest.mark.parametrize("value", [-(2**63), 0, 2**31, 2**63 - 1])
def test_a_reference_filter_beyond_the_ids_matches_nothing(client, author, value):
    """Any 64-bit integer is a filter value; no id is out there, so no match."""
    client.post(BOOK, json={"title": "t", "author_id": author["id"]})
    response = client.get(f"{BOOK}?author_id={value}")
    assert response.status_code == 200, response.data
    assert response.get_json()["items"] == []
    assert response.get_json()["total"] == 0
