"""Collections over every kind of declared field, and totals at the bound.

The typed filters and sorts are read from a model's JSON Schema, so they are
tested here on a model with one field of each filterable kind (a table made for
this module only), over HTTP, on whichever database the run uses. The bounded
totals are tested on foo and bar with 10,000 records inserted straight into the
stores, in bulk.
"""

import json
from datetime import date, datetime, timedelta

import pytest
import sqlalchemy as sa
from flask import Blueprint

from myapp import create_app
from myapp.api import views
from myapp.api.paging import TOTAL_BOUND
from myapp.api.sql_model import SqlModel
from myapp_testing.contract import assert_problem
from myapp.db import redis_store, sql
from myapp.foo.models import FooModel

FIELDS = {
    "title": {"type": "string", "minLength": 1, "maxLength": 40},
    "colour": {"type": "string", "enum": ["red", "green", "blue"]},
    "owner_id": {"type": "integer", "x-references": "foo"},
    "published": {"type": "boolean"},
    "pages": {"type": "integer", "minimum": 0},
    "price": {"type": "number"},
    "released": {"type": "string", "format": "date"},
    "due_at": {"type": "string", "format": "date-time"},
}


class ThingModel(SqlModel):
    resource = "test_typed_things"
    fields = FIELDS
    required = ("title",)


# A table for this module only: out of the app's metadata, so the migrations
# (and the test that holds them to the models) never see it.
sql.metadata.remove(ThingModel.table)


blueprint = Blueprint("things", __name__)
blueprint.add_url_rule(
    "/v1/things/", "list", lambda: views.list_records(ThingModel), methods=["GET"]
)

DAY = date(2026, 1, 1)
NOON = datetime(2026, 1, 1, 12)
# One row per line; None leaves an optional field out (NULL).
ROWS = [
    ("a", "red", True, 10, 1.5, DAY, NOON),
    ("b", "green", False, 20, 2.5, DAY + timedelta(1), NOON + timedelta(hours=1)),
    ("c", "blue", True, None, None, None, None),
    ("d", "red", None, 20, 0.5, DAY - timedelta(1), NOON - timedelta(hours=1)),
    ("e", None, False, 5, 2.5, DAY, NOON),
    ("f", "blue", True, 30, None, DAY + timedelta(2), None),
]


@pytest.fixture(scope="module")
def things_table(migrated, store_config):
    app = create_app(dict(store_config))
    with app.app_context():
        ThingModel.table.create(sql.engine)
    yield
    with app.app_context():
        ThingModel.table.drop(sql.engine)
        sql.engine.dispose()


@pytest.fixture
def things_client(things_table, app):
    app.register_blueprint(blueprint)
    with app.app_context():
        for title, colour, published, pages, price, released, due_at in ROWS:
            values = {
                "title": title,
                "colour": colour,
                "published": published,
                "pages": pages,
                "price": price,
                "released": released and released.isoformat(),
                "due_at": due_at and f"{due_at.isoformat()}Z",
            }
            ThingModel.create({k: v for k, v in values.items() if v is not None})
    return app.test_client()


def titles(client, query):
    response = client.get("/v1/things/", query_string={"limit": 100, **query})
    assert response.status_code == 200, response.data
    body = response.get_json()
    assert body["total"] == len(body["items"]) and body["total_exact"]
    return "".join(item["title"] for item in body["items"])


@pytest.mark.parametrize(
    "query, expected",
    [
        ({"title": "c"}, "c"),
        ({"colour": "red"}, "ad"),
        ({"published": "true"}, "acf"),
        ({"published": "false"}, "be"),
        ({"pages": "20"}, "bd"),
        ({"pages[gt]": "10"}, "bdf"),
        ({"pages[gte]": "10"}, "abdf"),
        ({"pages[lt]": "20"}, "ae"),
        ({"pages[lte]": "20", "pages[gt]": "5"}, "abd"),
        ({"pages[gt]": "-3"}, "abdef"),
        ({"price[gt]": "1.5"}, "be"),
        ({"price[gte]": "1.5"}, "abe"),
        ({"price[lt]": "1e0"}, "d"),
        ({"released": "2026-01-01"}, "ae"),
        ({"released[gt]": "2026-01-01"}, "bf"),
        ({"released[lte]": "2026-01-01"}, "ade"),
        ({"due_at": "2026-01-01T12:00:00Z"}, "ae"),
        ({"due_at": "2026-01-01T14:00:00+02:00"}, "ae"),
        ({"due_at": "2026-01-01T12:00:00.000000z"}, "ae"),
        ({"due_at[gt]": "2026-01-01T12:00:00Z"}, "b"),
        ({"due_at[lt]": "2026-01-01T12:00:00.000001Z"}, "ade"),
        ({"colour": "blue", "published": "true", "pages[gte]": "0"}, "f"),
        ({"colour": "green", "published": "true"}, ""),
        ({"owner_id": "1"}, ""),
    ],
)
def test_typed_filters_combine_with_and(things_client, query, expected):
    assert titles(things_client, query) == expected


@pytest.mark.parametrize(
    "parameter, value",
    [
        ("pages", "abc"),
        ("pages", "1.5"),
        ("pages", ""),
        ("pages", "99999999999999999999"),
        ("pages[gt]", "ten"),
        ("price[lt]", "cheap"),
        ("price[lt]", "nan"),
        ("price[lt]", "1e999"),
        ("price", "1.5"),
        ("published", "maybe"),
        ("published", "True"),
        ("published[gt]", "true"),
        ("released", "2026-13-01"),
        ("released", "2026-1-1"),
        ("released[gte]", "yesterday"),
        ("due_at", "2026-01-01"),
        ("due_at", "2026-01-01T12:00:00"),
        ("due_at[lt]", "2026-01-01T25:00:00Z"),
        ("colour", "purple"),
        ("colour[gt]", "red"),
        ("title[lt]", "b"),
        ("pages[ne]", "3"),
        ("owner_id", "one"),
        ("owner_id[gt]", "1"),
    ],
)
def test_a_filter_that_does_not_parse_is_400_naming_it(things_client, parameter, value):
    response = things_client.get("/v1/things/", query_string={parameter: value})
    assert f"'{parameter}'" in assert_problem(response, 400)["detail"]


def walk(client, query, limit):
    """Titles in the order a cursor walk sees them, pages of ``limit``."""
    seen = ""
    response = client.get("/v1/things/", query_string={**query, "limit": limit})
    while True:
        assert response.status_code == 200, response.data
        body = response.get_json()
        seen += "".join(item["title"] for item in body["items"])
        if body["next_cursor"] is None:
            return seen
        response = client.get(
            "/v1/things/", query_string={"cursor": body["next_cursor"], "limit": limit}
        )


@pytest.mark.parametrize(
    "sort",
    [
        "pages",
        "-pages",
        "price,-title",
        "-price,pages",
        "released,due_at",
        "-due_at",
        "published,-pages",
        "colour",
        "-colour,-released",
        "-title",
    ],
)
@pytest.mark.parametrize("query", [{}, {"pages[gte]": "5"}])
def test_cursor_walks_match_the_single_page_with_nulls_too(things_client, sort, query):
    """Optional fields are NULL in some rows: keysets must agree with ORDER BY."""
    whole = titles(things_client, {"sort": sort, **query})
    assert sorted(whole) == sorted(titles(things_client, query))
    for limit in (1, 2):
        assert walk(things_client, {"sort": sort, **query}, limit) == whole


def test_the_list_indexes_exist(things_table, app):
    with app.app_context():
        indexes = sa.inspect(sql.engine).get_indexes("test_typed_things")
    columns = {index["name"]: index["column_names"] for index in indexes}
    assert columns["ix_test_typed_things_created_at"] == ["created_at", "id"]
    for field in FIELDS:
        assert columns[f"ix_test_typed_things_{field}"] == [field, "id"]
        assert columns[f"ix_test_typed_things_{field}_created_at"] == [
            field,
            "created_at",
            "id",
        ]
        assert columns[f"ix_test_typed_things_{field}_count"] == [field]


# --- totals at the bound ------------------------------------------------------


def insert_foos(app, count, name="bulk"):
    """Rows straight into the table, in one statement (the test's transaction)."""
    now = datetime(2026, 1, 1)
    rows = [
        {"name": name, "created_at": now, "updated_at": now, "version": 1}
        for _ in range(count)
    ]
    with app.app_context():
        sql.engines[None].execute(FooModel.table.insert(), rows)


def totals(client, query=""):
    body = client.get(f"/v1/foo/?limit=1{query}").get_json()
    return body["total"], body["total_exact"]


def test_foo_total_is_exact_to_the_bound_then_bounded(app, client):
    insert_foos(app, TOTAL_BOUND - 1)
    assert totals(client) == (9999, True)
    insert_foos(app, 1)
    assert totals(client) == (10000, True)
    insert_foos(app, 1)
    assert totals(client) == (10000, False)
    insert_foos(app, 5, name="few")
    assert totals(client, "&name=few") == (5, True)
    assert totals(client, "&name=bulk") == (10000, False)
    assert totals(client, "&name=none") == (0, True)
    # An empty page past the end still counts, bounded too.
    past = client.get("/v1/foo/?offset=9990&limit=10&name=few").get_json()
    assert (past["items"], past["total"], past["total_exact"]) == ([], 5, True)
    # The offset window's last page is served; one more is refused.
    last = client.get("/v1/foo/?offset=9999&limit=1").get_json()
    assert len(last["items"]) == 1 and last["next_cursor"]
    assert_problem(client.get("/v1/foo/?offset=10000&limit=1"), 400)
    following = client.get(f"/v1/foo/?cursor={last['next_cursor']}").get_json()
    assert len(following["items"]) == 6 and following["total_exact"] is False


def insert_bars(app, count, first_sequence):
    """Records and index entries straight into Redis, as the create script does."""
    with app.app_context():
        prefix = app.config["REDIS_KEY_PREFIX"]
        documents, scores = {}, {}
        for sequence in range(first_sequence, first_sequence + count):
            id = f"{sequence:032x}"
            moment = "2026-01-01T00:00:00.000000Z"
            documents[f"{prefix}bar:{id}"] = json.dumps(
                {"id": id, "name": "bulk", "created_at": moment, "updated_at": moment},
                separators=(",", ":"),
            )
            scores[id] = sequence
        redis_store.mset(documents)
        redis_store.zadd(f"{prefix}bar:index", scores)
        redis_store.set(f"{prefix}bar:seq", first_sequence + count - 1)


def test_bar_total_is_exact_to_the_bound_then_bounded(app, client):
    insert_bars(app, TOTAL_BOUND - 1, 1)
    body = client.get("/v1/bar/?limit=1").get_json()
    assert (body["total"], body["total_exact"]) == (9999, True)
    client.post("/v1/bar/", json={"name": "the 10000th"})
    body = client.get("/v1/bar/?offset=9999&limit=1").get_json()
    assert (body["total"], body["total_exact"]) == (10000, True)
    assert body["items"][0]["name"] == "the 10000th"
    assert body["next_cursor"] is None
    insert_bars(app, 1, 10001)
    body = client.get("/v1/bar/?limit=1").get_json()
    assert (body["total"], body["total_exact"]) == (10000, False)
    assert_problem(client.get("/v1/bar/?offset=9999&limit=2"), 400)


def test_app_servers_of_one_deploy_share_cursors(make_app):
    """Two servers with the same settings accept each other's cursors."""
    first, second = make_app().test_client(), make_app().test_client()
    for n in range(3):
        first.post("/v1/bar/", json={"name": f"shared {n}"})
    cursor = first.get("/v1/bar/?limit=1").get_json()["next_cursor"]
    assert second.get(f"/v1/bar/?cursor={cursor}").get_json()["total"] == 3
    keyed = make_app(CURSOR_SECRET="a key of our own").test_client()
    assert_problem(keyed.get(f"/v1/bar/?cursor={cursor}"), 400)
    own = keyed.get("/v1/bar/?limit=1").get_json()["next_cursor"]
    same_key = make_app(CURSOR_SECRET="a key of our own").test_client()
    assert len(same_key.get(f"/v1/bar/?cursor={own}").get_json()["items"]) == 2
    assert_problem(first.get(f"/v1/bar/?cursor={own}"), 400)
