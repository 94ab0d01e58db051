"""Each server thread keeps a Redis connection of its own (myapp/db.py).

On the suite's real redis-server: threads never share a connection, the number of
connections is the number of threads, a connection Redis closed is replaced
without a failed request, and a forked child never talks on its parent's.
"""

import os
import threading

import redis

from myapp.db import redis_store


def connection_id(app):
    with app.app_context():
        return redis_store.client.client_id()


def app_connections(redis_server, name):
    """The server's connections named ``name`` (CLIENT SETNAME)."""
    admin = redis.Redis.from_url(redis_server.url)
    try:
        return [c for c in admin.client_list() if c["name"] == name]
    finally:
        admin.close()


def test_each_thread_has_a_connection_of_its_own(app, redis_server):
    client = app.test_client()
    created = client.post("/v1/bar/", json={"name": "shared"}).get_json()
    errors, ids = [], {}

    def serve(thread):
        with app.app_context():
            redis_store.client.client_setname("myapp-test-threads")
            ids[thread] = redis_store.client.client_id()
        for _ in range(40):
            response = app.test_client().get(f"/v1/bar/{created['id']}")
            if response.status_code != 200 or response.get_json() != created:
                errors.append((thread, response.status_code, response.data))
        if connection_id(app) != ids[thread]:
            errors.append((thread, "changed connection"))

    threads = [threading.Thread(target=serve, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(set(ids.values())) == 6
    named = app_connections(redis_server, "myapp-test-threads")
    assert sorted(int(c["id"]) for c in named) == sorted(ids.values())


def test_a_connection_redis_closed_is_replaced_without_a_failure(app, redis_server):
    client = app.test_client()
    created = client.post("/v1/bar/", json={"name": "kept"}).get_json()
    before = connection_id(app)
    admin = redis.Redis.from_url(redis_server.url)
    try:
        assert admin.client_kill_filter(_id=before) == 1
    finally:
        admin.close()
    response = client.get(f"/v1/bar/{created['id']}")
    assert response.status_code == 200
    assert response.get_json() == created
    assert connection_id(app) != before


def test_a_forked_child_connects_anew(app):
    created = app.test_client().post("/v1/bar/", json={"name": "forked"}).get_json()
    parent = connection_id(app)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            response = app.test_client().get(f"/v1/bar/{created['id']}")
            answer = f"{response.status_code} {connection_id(app)}"
            os.write(write, answer.encode())
            status = 0
        finally:
            os._exit(status)
    os.close(write)
    with os.fdopen(read) as pipe:
        answer = pipe.read()
    _, exit_status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(exit_status) == 0
    status, child = answer.split()
    assert status == "200"
    assert int(child) != parent
    assert connection_id(app) == parent
    assert app.test_client().get(f"/v1/bar/{created['id']}").get_json() == created
