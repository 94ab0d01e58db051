"""The scaffold project test's live server and its checks over HTTP.

The features it checks are the ones test_scaffold_project.py scaffolds, named here
so both agree.
"""

import http.client
import json
import subprocess
import sys
import time

from scripts.harness import free_port

# Unlikely to exist in any copy; the first SQL one is as long as a name may be.
SQL_FEATURE = "probe_line_item_note"
SHELF_FEATURE = "probe_shelf"
REDIS_FEATURE = "probe_note"
TOKEN = "scaffold-probe-token"


class LiveServer:
    """`flask run` in the copy, on a free loopback port."""

    def __init__(self, project, log):
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "myapp", "run"]
            + ["--host", "127.0.0.1", "--port", str(self.port)]
            + ["--no-reload", "--no-debugger"],
            cwd=project.root,
            env=project.serving,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def request(self, method, path, body=None, headers=None):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        headers = dict(headers or {})
        if body is not None:
            body = json.dumps(body).encode()
            headers.setdefault("Content-Type", "application/json")
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, response.headers, response.read()
        finally:
            connection.close()

    def wait_until_up(self, seconds=30):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            assert self.process.poll() is None, "the server exited"
            try:
                if self.request("GET", "/health")[0] == 200:
                    return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"the server did not answer within {seconds}s")

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


WRITE = {"Authorization": f"Bearer {TOKEN}"}


def check_feature(server, name, body, change):
    """One round of the contract over HTTP: create, read, patch, list, delete.

    ``body`` is a valid body; ``change`` a merge patch changing one field.
    """
    collection = f"/v1/{name}/"
    status, headers, _ = server.request("POST", collection, body)
    assert (status, headers["Content-Type"]) == (401, "application/problem+json")

    status, headers, created = server.request("POST", collection, body, WRITE)
    assert status == 201, created
    created = json.loads(created)
    location, etag = headers["Location"], headers["ETag"]
    assert location == f"{collection}{created['id']}"

    status, headers, read = server.request("GET", location)
    assert (status, headers["ETag"], json.loads(read)) == (200, etag, created)
    status, _, read = server.request("GET", location, headers={"If-None-Match": etag})
    assert (status, read) == (304, b"")

    patch = {**WRITE, "Content-Type": "application/merge-patch+json"}
    status, headers, patched = server.request("PATCH", location, change, patch)
    assert status == 200, patched
    assert json.loads(patched) == {**created, **change, "updated_at": ANY}
    assert headers["ETag"] != etag

    status, headers, problem = server.request("POST", collection, {"id": 1}, WRITE)
    assert (status, headers["Content-Type"]) == (400, "application/problem+json")
    assert "/id" in [e["path"] for e in json.loads(problem)["errors"]]

    status, _, page = server.request("GET", collection)
    assert status == 200
    assert [item["id"] for item in json.loads(page)["items"]] == [created["id"]]

    status, _, spec = server.request("GET", f"{collection}swagger.json")
    assert status == 200
    assert f"/{name}/{{id}}" in json.loads(spec)["paths"]
    return created


class Anything:
    def __eq__(self, other):
        return True


ANY = Anything()


def errors_of(server, method, path, body, status):
    """The error paths of a write answered ``status``."""
    answered, headers, problem = server.request(method, path, body, WRITE)
    assert answered == status, problem
    assert headers["Content-Type"] == "application/problem+json"
    return [error["path"] for error in json.loads(problem).get("errors", [])]


def check_typed_fields(server):
    """Every type's round trip and refusals, references and unique values."""
    collection = f"/v1/{SQL_FEATURE}/"
    status, _, foo = server.request("POST", "/v1/foo/", {"name": "author"}, WRITE)
    foo = json.loads(foo)
    body = {
        "title": "Dune",
        "code": "978-0441",
        "pages": 412,
        "price": 9.99,
        "published": True,
        "released_on": "1965-08-01",
        "printed_at": "2020-02-29T23:30:00.5-01:00",
        "genre": "novel",
        "tags": ["sf", "classic"],
        "author_id": foo["id"],
    }
    created = check_feature(server, SQL_FEATURE, body, {"pages": 500})
    assert created == {
        **body,
        "printed_at": "2020-03-01T00:30:00.500000Z",
        "id": ANY,
        "created_at": ANY,
        "updated_at": ANY,
    }
    for field, wrong in [
        ("title", 5),
        ("title", ""),
        ("code", "x" * 21),
        ("pages", "12"),
        ("pages", 0),
        ("price", "9.99"),
        ("published", "yes"),
        ("released_on", "1965-13-01"),
        ("printed_at", "2020-02-29T23:30:00"),
        ("genre", "epic"),
        ("tags", ["a"] * 11),
        ("author_id", "1"),
    ]:
        paths = errors_of(server, "POST", collection, {**body, field: wrong}, 400)
        assert paths == [f"/{field}"], (field, wrong)
    missing = {**body, "code": "other", "author_id": 2**31 - 1}
    assert errors_of(server, "POST", collection, missing, 422) == ["/author_id"]
    assert errors_of(server, "POST", collection, body, 409) == ["/code"]
    assert errors_of(server, "DELETE", f"/v1/foo/{foo['id']}", None, 409) == []

    check_lists(server, collection, body)

    status, _, shelf = server.request(
        "POST",
        f"/v1/{SHELF_FEATURE}/",
        {"label": "top", "item_id": created["id"]},
        WRITE,
    )
    assert status == 201, shelf
    item = f"{collection}{created['id']}"
    status, _, problem = server.request("DELETE", item, headers=WRITE)
    assert status == 409 and SHELF_FEATURE in json.loads(problem)["detail"]
    shelf = json.loads(shelf)
    server.request("DELETE", f"/v1/{SHELF_FEATURE}/{shelf['id']}", headers=WRITE)
    assert server.request("DELETE", item, headers=WRITE)[0] == 204
    assert server.request("GET", item)[0] == 404
    assert server.request("DELETE", f"/v1/foo/{foo['id']}", headers=WRITE)[0] == 204

    note = {
        "body": "hello",
        "stars": 4,
        "tags": ["a"],
        "seen_at": "2024-01-01T00:00:00Z",
    }
    created = check_feature(server, REDIS_FEATURE, note, {"stars": 5})
    assert created["seen_at"] == "2024-01-01T00:00:00.000000Z"
    notes = f"/v1/{REDIS_FEATURE}/"
    assert errors_of(server, "POST", notes, {**note, "stars": 6}, 400) == ["/stars"]
    patch = {**WRITE, "Content-Type": "application/merge-patch+json"}
    status, _, patched = server.request(
        "PATCH", f"{notes}{created['id']}", {"tags": None}, patch
    )
    assert status == 200 and "tags" not in json.loads(patched)


def check_lists(server, collection, body):
    """Typed filters, ranges and a two-key sort, over HTTP."""
    rows = [
        ("b", 150, True, 5.5),
        ("a", 150, True, 5.5),
        ("c", 99, True, 9.0),
        ("d", 300, False, 1.0),
        ("e", 100, True, 0.5),
    ]
    made = {}
    for title, pages, published, price in rows:
        record = {
            **body,
            "title": title,
            "code": f"code-{title}",
            "pages": pages,
            "published": published,
            "price": price,
        }
        status, _, created = server.request("POST", collection, record, WRITE)
        assert status == 201, created
        made[title] = json.loads(created)["id"]

    def titles(query):
        status, _, page = server.request("GET", f"{collection}?{query}")
        assert status == 200, page
        return [item["title"] for item in json.loads(page)["items"]]

    assert titles("pages[gte]=100&published=true") == ["Dune", "b", "a", "e"]
    assert titles("sort=-price,title") == ["Dune", "c", "a", "b", "d", "e"]
    assert titles("price[lt]=5.5&sort=title") == ["d", "e"]
    status, _, problem = server.request("GET", f"{collection}?pages=abc")
    assert status == 400 and "pages" in json.loads(problem)["detail"]
    for id in made.values():
        assert server.request("DELETE", f"{collection}{id}", headers=WRITE)[0] == 204
