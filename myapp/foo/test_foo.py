"""Foo over SQL: the shared contract plus what is foo's own."""

from urllib.parse import urlencode

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from openapi_spec_validator import validate

from myapp_testing.contract import CrudContract, assert_problem
from myapp.db import sql


class TestFooContract(CrudContract):
    feature = "foo"
    missing_ids = ["12345", "0", "99999999999999999999", "2147483648", "abc", "-1"]

    def test_race_has_exactly_one_winner(self, make_app):
        self.race(make_app(isolated=False))


def test_spec_is_valid_swagger(client):
    validate(client.get("/v1/foo/swagger.json").get_json())


def test_docs_page_answers(client):
    response = client.get("/v1/foo/docs")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert b"swagger" in response.data.lower()


@pytest.fixture
def three(client):
    names = ["banana", "apple", "cherry"]
    return [client.post("/v1/foo/", json={"name": n}).get_json() for n in names]


@pytest.mark.parametrize(
    "sort, order",
    [
        ("id", [0, 1, 2]),
        ("-id", [2, 1, 0]),
        ("name", [1, 0, 2]),
        ("-name", [2, 0, 1]),
        ("created_at", [0, 1, 2]),
        ("-created_at", [2, 1, 0]),
    ],
)
def test_sort(client, three, sort, order):
    response = client.get(f"/v1/foo/?sort={sort}")
    assert response.status_code == 200
    assert response.get_json()["items"] == [three[i] for i in order]


def test_sort_is_kept_in_links(client, three):
    response = client.get("/v1/foo/?sort=-name&limit=1")
    cursor = response.get_json()["next_cursor"]
    assert response.headers["Link"] == (
        f'</v1/foo/?{urlencode({"sort": "-name", "cursor": cursor})}&limit=1>;'
        ' rel="next"'
    )
    second = client.get("/v1/foo/?sort=-name&offset=1&limit=1")
    assert second.get_json()["items"] == [three[0]]
    assert second.headers["Link"].endswith(
        '</v1/foo/?sort=-name&limit=1&offset=0>; rel="prev"'
    )


@pytest.fixture
def ties(client):
    """Names with ties, created in this order (ids ascending)."""
    names = ["b", "a", "b", "c", "a", "b"]
    return [client.post("/v1/foo/", json={"name": n}).get_json() for n in names]


def _walk(client, query, limit):
    """Every item of a list followed by cursor, ``limit`` a page."""
    items, response = [], client.get("/v1/foo/", query_string={**query, "limit": limit})
    while True:
        assert response.status_code == 200, response.data
        body = response.get_json()
        items.extend(body["items"])
        if body["next_cursor"] is None:
            return items
        response = client.get(
            "/v1/foo/", query_string={"cursor": body["next_cursor"], "limit": limit}
        )


@pytest.mark.parametrize(
    "sort, key, descending",
    [
        ("name", lambda f: (f["name"], f["id"]), False),
        ("-name", lambda f: (f["name"], f["id"]), True),
        ("name,-id", lambda f: (f["name"], -f["id"]), False),
        ("-name,id", lambda f: (_desc(f["name"]), f["id"]), False),
        ("name,created_at", lambda f: (f["name"], f["created_at"], f["id"]), False),
        ("-created_at", lambda f: (f["created_at"], f["id"]), True),
        ("id", lambda f: f["id"], False),
        ("-id,name", lambda f: f["id"], True),
    ],
)
def test_multi_key_sorts_break_ties_by_id_in_the_last_keys_direction(
    client, ties, sort, key, descending
):
    expected = sorted(ties, key=key, reverse=descending)
    assert client.get(f"/v1/foo/?sort={sort}").get_json()["items"] == expected
    for limit in (1, 2, 4):
        assert _walk(client, {"sort": sort}, limit) == expected


def _desc(text):
    """A key that sorts text descending (for ASCII test names)."""
    return tuple(-ord(c) for c in text)


def test_sort_minus_name_is_minus_name_minus_id(client, ties):
    items = client.get("/v1/foo/?sort=-name").get_json()["items"]
    assert [(f["name"], f["id"]) for f in items] == sorted(
        ((f["name"], f["id"]) for f in ties), reverse=True
    )


def test_cursor_keeps_its_sort_and_filters(client, ties):
    first = client.get("/v1/foo/?sort=-name&name=b&limit=2").get_json()
    assert [f["id"] for f in first["items"]] == [ties[5]["id"], ties[2]["id"]]
    cursor = first["next_cursor"]
    for repeated in (
        {},
        {"sort": "-name"},
        {"name": "b"},
        {"sort": "-name", "name": "b"},
    ):
        body = client.get(
            "/v1/foo/", query_string={"cursor": cursor, **repeated}
        ).get_json()
        assert body["items"] == [ties[0]], repeated
        assert body["total"] == 3 and body["next_cursor"] is None


@pytest.mark.parametrize(
    "query",
    [
        {"sort": "name"},
        {"sort": "-name,-id"},
        {"sort": "-id"},
        {"name": "a"},
        {"name": "b", "sort": "name"},
        {"name": "b", "sort": "bogus"},
    ],
)
def test_cursor_with_another_sort_or_filter_is_400(client, ties, query):
    cursor = client.get("/v1/foo/?sort=-name&name=b&limit=1").get_json()["next_cursor"]
    response = client.get("/v1/foo/", query_string={"cursor": cursor, **query})
    assert_problem(response, 400)


def test_cursor_without_filters_refuses_one_added(client, ties):
    cursor = client.get("/v1/foo/?limit=1").get_json()["next_cursor"]
    response = client.get("/v1/foo/", query_string={"cursor": cursor, "name": "a"})
    assert "filters" in assert_problem(response, 400)["detail"]
    response = client.get("/v1/foo/", query_string={"cursor": cursor, "sort": "id"})
    assert "sort" in assert_problem(response, 400)["detail"]


def test_cursor_link_of_a_filtered_sorted_list_keeps_its_parameters(client, ties):
    response = client.get("/v1/foo/?name=b&sort=-id&limit=1&offset=1")
    body = response.get_json()
    assert body["items"] == [ties[2]]
    links = response.headers["Link"]
    kept = urlencode({"name": "b", "sort": "-id", "cursor": body["next_cursor"]})
    assert links == (
        f'</v1/foo/?{kept}&limit=1>; rel="next",'
        ' </v1/foo/?name=b&sort=-id&limit=1&offset=0>; rel="prev"'
    )
    following = client.get(links.split(">")[0][1:])
    assert following.get_json()["items"] == [ties[0]]
    assert "offset" not in following.get_json()


@pytest.mark.parametrize(
    "sort",
    [
        "colour",
        "--id",
        "",
        "updated_at",
        "+id",
        "name,",
        ",name",
        "name,,id",
        "name,name",
        "name,-name",
        "id,colour",
        "name id",
    ],
)
def test_bad_sort_is_400(client, sort):
    response = client.get(f"/v1/foo/?sort={sort}")
    assert "sort" in assert_problem(response, 400)["detail"]


@pytest.mark.parametrize("parameter", ["name[gt]", "name[lte]", "name[eq]", "name[]"])
def test_ranges_on_a_text_field_are_400_naming_the_parameter(client, parameter):
    response = client.get("/v1/foo/", query_string={parameter: "a"})
    assert parameter in assert_problem(response, 400)["detail"]


def test_a_filter_given_twice_is_400(client):
    response = client.get("/v1/foo/?name=a&name=b")
    assert "name" in assert_problem(response, 400)["detail"]


def test_name_filter_is_exact(client, three):
    """Case, accents and trailing spaces count (MySQL/MariaDB defaults ignore them)."""
    near = ["Apple", "apple ", "\u00e0pple", "APPLE", " apple", "apple\u00a0"]
    created = {}
    for name in near:
        created[name] = client.post("/v1/foo/", json={"name": name}).get_json()
    response = client.get("/v1/foo/?name=apple")
    body = response.get_json()
    assert body["items"] == [three[1]]
    assert body["total"] == 1
    for name in near:
        body = client.get("/v1/foo/", query_string={"name": name}).get_json()
        assert (body["items"], body["total"]) == ([created[name]], 1), repr(name)
    assert client.get("/v1/foo/?name=nothing").get_json()["total"] == 0


def test_name_filter_total_across_pages(client):
    for _ in range(3):
        client.post("/v1/foo/", json={"name": "same"})
    client.post("/v1/foo/", json={"name": "other"})
    body = client.get("/v1/foo/?name=same&limit=2&offset=1").get_json()
    assert (len(body["items"]), body["total"]) == (2, 3)


def test_nul_in_name(client, database_url):
    """PostgreSQL cannot hold NUL: a 400 there, and the spec says so."""
    response = client.post("/v1/foo/", json={"name": "a\x00b"})
    spec = client.get("/v1/foo/swagger.json").get_json()
    documented = spec["definitions"]["FooWrite"]["properties"]["name"]
    if database_url.startswith("postgresql"):
        problem = assert_problem(response, 400, with_errors=True)
        assert problem["errors"][0]["path"] == "/name"
        assert_problem(client.get("/v1/foo/?name=a%00b"), 400)
        assert client.get("/v1/foo/").get_json()["total"] == 0
        assert documented["pattern"] == "^[^\\u0000]*$"
    else:
        assert response.status_code == 201
        assert client.get(response.headers["Location"]).get_json()["name"] == "a\x00b"
        assert client.get("/v1/foo/?name=a%00b").get_json()["total"] == 1
        assert client.get("/v1/foo/?name=a").get_json()["total"] == 0
        assert "pattern" not in documented


def test_ids_are_never_reused(client):
    first = client.post("/v1/foo/", json={"name": "a"}).get_json()["id"]
    client.delete(f"/v1/foo/{first}")
    second = client.post("/v1/foo/", json={"name": "b"}).get_json()["id"]
    assert second > first


def test_models_and_migrations_agree(app):
    with app.app_context():
        connection = sql.session.connection()
        diff = compare_metadata(
            MigrationContext.configure(connection), sql.metadatas[None]
        )
    assert diff == []
