"""The reference: a hand-written bare Flask app doing only the storage work.

Flask, Flask-SQLAlchemy and redis-py, written the usual way, with none of the
contract: no validation, ETags, conditional requests, problem bodies, auth, request
ids or security headers. `make bench` serves it under the same uWSGI flags, on the
same tables and Redis keys as the service, so its ratios show what the contract
costs on this machine in the same run.
"""

import json
import os
import time
import uuid
from datetime import datetime, timezone

import redis
from flask import Flask, jsonify, request
from flask_sqlalchemy import SQLAlchemy

PREFIX = "myapp:bar:"

app = Flask(__name__)
app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["MYAPP_SQLALCHEMY_DATABASE_URI"]
db = SQLAlchemy(app)
store = redis.Redis.from_url(os.environ["MYAPP_REDIS_URL"], decode_responses=True)


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


def now():
    return datetime.now(timezone.utc).replace(tzinfo=None)


def paging():
    return int(request.args.get("limit", 20)), int(request.args.get("offset", 0))


@app.get("/v1/foo/<int:id>")
def get_foo(id):
    return jsonify(db.get_or_404(Foo, id).as_json())


@app.get("/v1/foo/")
def list_foo():
    limit, offset = paging()
    query = db.select(Foo).order_by(Foo.created_at, Foo.id)
    items = db.session.scalars(query.limit(limit).offset(offset)).all()
    total = db.session.scalar(db.select(db.func.count()).select_from(Foo))
    return jsonify(
        items=[foo.as_json() for foo in items], total=total, limit=limit, offset=offset
    )


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
        pipe.zrange(PREFIX + "index", offset, offset + limit - 1)
        total, ids = pipe.execute()
    stored = store.mget([PREFIX + id for id in ids]) if ids else []
    items = [json.loads(value) for value in stored if value is not None]
    return jsonify(items=items, total=total, limit=limit, offset=offset)


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
    with store.pipeline() as pipe:
        pipe.set(PREFIX + id, json.dumps(bar))
        pipe.zadd(PREFIX + "index", {id: time.time()})
        pipe.execute()
    return jsonify(bar), 201
