"""The reference: a hand-written bare Flask app doing only the storage work.

Flask, Flask-SQLAlchemy and redis-py, written the usual way, with none of the
contract: no validation, ETags, conditional requests, problem bodies, auth, request
ids, metrics or security headers. `make bench` serves it under the same uWSGI
flags, on the same tables and Redis keys as the service, so its ratios show what
the contract costs on this machine in the same run.

Its storage work is the service's (bench/fastapi_app.py does the same again):
a page reads one row or entry more than it serves (is there a next page?) and a
total bounded the way the contract bounds it (a count over at most 10,001 rows;
ZCARD); it answers the contract's page (next_cursor, the keyset position of the
last record, and its Link header; unsigned); a bar is created with the
service's script (INCR, SET, ZADD at once, the creation sequence as the index's
score). Only the statements are written the usual way: a page and its count are
two statements, where the service makes one.
"""

import json
import os
import uuid

import redis
from flask import Flask, jsonify, request
from flask_sqlalchemy import SQLAlchemy
from reference import CREATE_BAR, PREFIX, TOTAL_BOUND, cursor, now

app = Flask(__name__)
app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["MYAPP_SQLALCHEMY_DATABASE_URI"]
db = SQLAlchemy(app)
store = redis.Redis.from_url(os.environ["MYAPP_REDIS_URL"], decode_responses=True)
create_bar_script = store.register_script(CREATE_BAR)


class Foo(db.Model):
    __tablename__ = "foo"
    id = db.Column(db.Integer, primary_key=True)
    name = db.Column(db.String(120), nullable=False)
    created_at = db.Column(db.DateTime, nullable=False)
    updated_at = db.Column(db.DateTime, nullable=False)
    version = db.Column(db.Integer, nullable=False)

    def as_json(self):
        return {
            "id": self.id,
            "name": self.name,
            "created_at": self.created_at.isoformat() + "Z",
            "updated_at": self.updated_at.isoformat() + "Z",
        }


def paging():
    return int(request.args.get("limit", 20)), int(request.args.get("offset", 0))


def page_body(items, limit, offset, counted, last_position):
    """The page, its bounded total and, when more follow, the next page's cursor."""
    next_cursor = cursor(last_position) if len(items) > limit else None
    response = jsonify(
        items=items[:limit],
        total=min(counted, TOTAL_BOUND),
        total_exact=counted <= TOTAL_BOUND,
        limit=limit,
        offset=offset,
        next_cursor=next_cursor,
    )
    if next_cursor is not None:
        response.headers["Link"] = (
            f'<{request.path}?cursor={next_cursor}&limit={limit}>; rel="next"'
        )
    return response


@app.get("/v1/foo/<int:id>")
def get_foo(id):
    return jsonify(db.get_or_404(Foo, id).as_json())


@app.get("/v1/foo/")
def list_foo():
    limit, offset = paging()
    query = db.select(Foo).order_by(Foo.created_at, Foo.id)
    rows = db.session.scalars(query.limit(limit + 1).offset(offset)).all()
    bounded = db.select(db.literal(1)).select_from(Foo).limit(TOTAL_BOUND + 1)
    counted = db.session.scalar(
        db.select(db.func.count()).select_from(bounded.subquery())
    )
    items = [foo.as_json() for foo in rows]
    last = items[min(limit, len(items)) - 1] if items else {}
    position = [last.get("created_at"), last.get("id")]
    return page_body(items, limit, offset, counted, position)


@app.post("/v1/foo/")
def create_foo():
    moment = now()
    foo = Foo(
        name=request.get_json()["name"], created_at=moment, updated_at=moment, version=1
    )
    db.session.add(foo)
    db.session.commit()
    return jsonify(foo.as_json()), 201


@app.get("/v1/bar/<id>")
def get_bar(id):
    stored = store.get(PREFIX + id)
    if stored is None:
        return jsonify(error="not found"), 404
    return app.response_class(stored, mimetype="application/json")


@app.get("/v1/bar/")
def list_bar():
    limit, offset = paging()
    with store.pipeline(transaction=False) as pipe:
        pipe.zcard(PREFIX + "index")
        pipe.zrange(
            PREFIX + "index",
            offset,
            offset + limit,
            withscores=True,
            score_cast_func=int,
        )
        counted, entries = pipe.execute()
    stored = store.mget([PREFIX + id for id, _ in entries]) if entries else []
    items = [json.loads(value) for value in stored if value is not None]
    position = [entries[min(limit, len(entries)) - 1][1]] if entries else []
    return page_body(items, limit, offset, counted, position)


@app.post("/v1/bar/")
def create_bar():
    id = uuid.uuid4().hex
    moment = now().isoformat() + "Z"
    bar = {
        "id": id,
        "name": request.get_json()["name"],
        "created_at": moment,
        "updated_at": moment,
    }
    create_bar_script(
        keys=[PREFIX + id, PREFIX + "index", PREFIX + "seq"],
        args=[json.dumps(bar), id],
    )
    return jsonify(bar), 201
