"""Foo over SQL: the shared contract plus what is foo's own."""

import time
from datetime import datetime
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from openapi_spec_validator import validate

from myapp.api.fields import rfc3339
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


def test_string_columns_have_the_models_collation(app):
    """The drift check ignores collations; on MySQL/MariaDB compare them here."""
    with app.app_context():
        connection = sql.session.connection()
        dialect = connection.dialect
        if dialect.name not in ("mysql", "mariadb"):
            pytest.skip("collations are set per column only on MySQL/MariaDB")
        inspector = sa.inspect(connection)
        checked = 0
        for table in sql.metadatas[None].sorted_tables:
            reflected = {
                c["name"]: c["type"] for c in inspector.get_columns(table.name)
            }
            for column in table.columns:
                wanted = column.type.dialect_impl(dialect)
                if isinstance(wanted, sa.types.TypeDecorator):
                    wanted = wanted.impl_instance
                # Types that choose a collation (ExactString); JSON text is ASCII.
                if isinstance(wanted, sa.String) and getattr(wanted, "charset", None):
                    actual = reflected[column.name]
                    assert (actual.charset, actual.collation) == (
                        wanted.charset,
                        wanted.collation,
                    ), f"{table.name}.{column.name}"
                    checked += 1
    assert checked


def test_update_counts_matched_rows_not_changed_rows(app):
    """The version guard relies on rowcount = rows matched (MySQL's FOUND_ROWS)."""
    client = app.test_client()
    id = client.post("/v1/foo/", json={"name": "same"}).get_json()["id"]
    with app.app_context():
        result = sql.session.execute(
            sa.text("UPDATE foo SET name = name WHERE id = :id"), {"id": id}
        )
        assert result.rowcount == 1
        sql.session.rollback()


def test_put_of_the_same_name_is_a_write(client):
    created = client.post("/v1/foo/", json={"name": "same"})
    location, etag = created.headers["Location"], created.headers["ETag"]
    first = client.put(location, json={"name": "same"}, headers={"If-Match": etag})
    assert first.status_code == 200
    assert first.get_json()["name"] == "same"
    assert first.headers["ETag"] != etag
    second = client.put(location, json={"name": "same"})
    assert second.status_code == 200
    stale = client.put(location, json={"name": "same"}, headers={"If-Match": etag})
    assert_problem(stale, 412)


def test_timestamps_keep_microseconds(app):
    client = app.test_client()
    created = client.post("/v1/foo/", json={"name": "when"}).get_json()
    with app.app_context():
        stored = sql.session.execute(
            sa.text("SELECT created_at FROM foo WHERE id = :id"), {"id": created["id"]}
        ).scalar_one()
        sql.session.rollback()
    if isinstance(stored, str):  # SQLite keeps text
        stored = datetime.fromisoformat(stored)
    assert rfc3339(stored) == created["created_at"]


def test_a_mysql_url_to_mariadb_works_too(make_app, database_url):
    """The dialect is then named "mysql", yet knows it talks to MariaDB."""
    if not database_url.startswith("mariadb+"):
        pytest.skip("needs a MariaDB server")
    url = database_url.replace("mariadb+", "mysql+", 1)
    client = make_app(SQLALCHEMY_DATABASE_URI=url).test_client()
    created = client.post("/v1/foo/", json={"name": "apple "})
    assert created.status_code == 201
    assert client.get(created.headers["Location"]).get_json() == created.get_json()
    assert client.get("/v1/foo/?name=apple").get_json()["total"] == 0
    assert client.get("/v1/foo/?name=apple%20").get_json()["total"] == 1


def test_rollback_isolation_first(client, app, database_url):
    """Writes through the API are committed for the app but not on disk."""
    assert client.post("/v1/foo/", json={"name": "isolated"}).status_code == 201
    assert client.get("/v1/foo/?name=isolated").get_json()["total"] == 1
    outside = sa.create_engine(database_url)
    with outside.connect() as connection:
        count = connection.execute(
            sa.text("SELECT count(*) FROM foo WHERE name = 'isolated'")
        ).scalar_one()
    outside.dispose()
    assert count == 0


def test_rollback_isolation_second(client):
    """Runs after the test above: nothing it wrote is visible."""
    assert client.get("/v1/foo/?name=isolated").get_json()["total"] == 0
    assert client.get("/v1/foo/").get_json()["total"] == 0


@pytest.mark.parametrize(
    "url, driver",
    [
        ("postgresql+psycopg://nobody@127.0.0.1:9/none", "psycopg"),
        ("mysql+pymysql://nobody@127.0.0.1:9/none", "pymysql"),
    ],
)
def test_unreachable_database_is_503_and_bar_keeps_serving(make_app, url, driver):
    app = make_app(isolated=False, SQLALCHEMY_DATABASE_URI=url, SQL_CONNECT_TIMEOUT=1)
    client = app.test_client()
    for response in [
        client.get("/v1/foo/"),
        client.get("/v1/foo/1"),
        client.post("/v1/foo/", json={"name": "x"}),
    ]:
        problem = assert_problem(response, 503)
        assert response.headers["Retry-After"] == "5"
        assert driver not in problem["detail"].lower()
    assert client.post("/v1/bar/", json={"name": "still here"}).status_code == 201
    ready = client.get("/ready")
    assert_problem(ready, 503)
    assert ready.get_json()["checks"] == {"sql": "unavailable", "redis": "ok"}


def test_pages_and_writes_outside_the_test_transaction(make_app):
    """The production path (an engine, autocommit on PostgreSQL), not a savepoint."""
    client = make_app(isolated=False).test_client()
    created = [client.post("/v1/foo/", json={"name": f"own {n}"}) for n in range(3)]
    try:
        assert [response.status_code for response in created] == [201] * 3
        items = [response.get_json() for response in created]
        page = client.get("/v1/foo/?limit=2")
        body = page.get_json()
        assert body == {
            "items": items[:2],
            "total": 3,
            "total_exact": True,
            "limit": 2,
            "offset": 0,
            "next_cursor": body["next_cursor"],
        }
        rest = client.get(page.headers["Link"].split(">")[0][1:]).get_json()
        assert (rest["items"], rest["next_cursor"]) == (items[2:], None)
        past = client.get("/v1/foo/?offset=5").get_json()
        assert (past["items"], past["total"]) == ([], 3)
        named = client.get("/v1/foo/?name=own 1").get_json()
        assert (named["items"], named["total"]) == ([items[1]], 1)
        location, etag = created[0].headers["Location"], created[0].headers["ETag"]
        changed = client.put(
            location, json={"name": "own 0b"}, headers={"If-Match": etag}
        )
        assert changed.status_code == 200
        assert client.get(location).get_json() == changed.get_json()
        stale = client.delete(location, headers={"If-Match": etag})
        assert_problem(stale, 412)
    finally:
        for response in created:
            client.delete(response.headers["Location"])
    assert client.get("/v1/foo/").get_json()["total"] == 0


def _server_side_id(connection):
    if connection.dialect.name == "postgresql":
        return connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
    return connection.exec_driver_sql("SELECT CONNECTION_ID()").scalar_one()


def test_a_connection_the_database_closed_is_replaced_unseen(make_app, database_url):
    """As after a database restart: the next request gets a fresh connection, no 503."""
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite has no server to close connections")
    app = make_app(isolated=False)
    client = app.test_client()
    assert client.get("/v1/foo/").status_code == 200
    with app.app_context():
        engine = sql.engine
        assert engine.pool.checkedin() == 1
        with engine.connect() as pooled:
            victim = _server_side_id(pooled)
    # Autocommit: each look at the server's activity is a fresh snapshot.
    outside = sa.create_engine(
        database_url, poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT"
    )
    if database_url.startswith("postgresql"):
        close = "SELECT pg_terminate_backend(:id)"
        gone = "SELECT count(*) FROM pg_stat_activity WHERE pid = :id"
    else:
        close = "KILL :id"
        gone = "SELECT count(*) FROM information_schema.processlist WHERE id = :id"
    with outside.connect() as connection:
        connection.execute(sa.text(close), {"id": victim})
        deadline = time.monotonic() + 10
        while connection.execute(sa.text(gone), {"id": victim}).scalar_one():
            assert time.monotonic() < deadline, "the connection was not closed"
            time.sleep(0.02)
    outside.dispose()
    for path in ("/v1/foo/", "/v1/foo/1"):
        response = client.get(path)
        assert response.status_code in (200, 404), response.get_json()
    with app.app_context():
        with sql.engine.connect() as pooled:
            assert _server_side_id(pooled) != victim
