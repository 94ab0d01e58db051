"""The other reference: the same storage work in FastAPI, written the usual way.

FastAPI with pydantic 2 models for bodies and responses, SQLAlchemy 2 (sync ORM
sessions, one per request through a dependency) and redis-py, in plain ``def``
endpoints (FastAPI runs them in its thread pool, as it does any blocking code).
`make bench` serves it with uvicorn (uvloop, httptools, 2 worker processes, no
access log) on the same tables and Redis keys as the service and bench/bare.py,
whose storage work it repeats statement for statement: see that file.
"""

import json
import os
import uuid
from datetime import datetime
from typing import Annotated

import redis
from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import DateTime, Integer, String, create_engine, func, literal, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from reference import CREATE_BAR, PREFIX, TOTAL_BOUND, cursor, now

engine = create_engine(os.environ["MYAPP_SQLALCHEMY_DATABASE_URI"])
store = redis.Redis.from_url(os.environ["MYAPP_REDIS_URL"], decode_responses=True)
create_bar_script = store.register_script(CREATE_BAR)

app = FastAPI(title="bench reference")


class Base(DeclarativeBase):
    pass


class Foo(Base):
    __tablename__ = "foo"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    version: Mapped[int] = mapped_column(Integer)


class Write(BaseModel):
    name: str = Field(min_length=1, max_length=120)


class Record(BaseModel):
    id: int | str
    name: str
    created_at: str
    updated_at: str


class Page(BaseModel):
    items: list[Record]
    total: int
    total_exact: bool
    limit: int
    offset: int
    next_cursor: str | None


def session():
    with Session(engine) as opened:
        yield opened


SessionDependency = Annotated[Session, Depends(session)]
Limit = Annotated[int, Query(ge=1, le=100)]
Offset = Annotated[int, Query(ge=0)]


def foo_record(foo):
    return Record(
        id=foo.id,
        name=foo.name,
        created_at=foo.created_at.isoformat() + "Z",
        updated_at=foo.updated_at.isoformat() + "Z",
    )


def page(request, response, items, limit, offset, counted, last_position):
    """The page, its bounded total and, when more follow, the next page's cursor."""
    next_cursor = cursor(last_position) if len(items) > limit else None
    if next_cursor is not None:
        response.headers["Link"] = (
            f'<{request.url.path}?cursor={next_cursor}&limit={limit}>; rel="next"'
        )
    return Page(
        items=items[:limit],
        total=min(counted, TOTAL_BOUND),
        total_exact=counted <= TOTAL_BOUND,
        limit=limit,
        offset=offset,
        next_cursor=next_cursor,
    )


@app.get("/v1/foo/{id}", response_model=Record)
def get_foo(id: int, db: SessionDependency):
    foo = db.get(Foo, id)
    if foo is None:
        raise HTTPException(404, "not found")
    return foo_record(foo)


@app.get("/v1/foo/", response_model=Page)
def list_foo(
    request: Request,
    response: Response,
    db: SessionDependency,
    limit: Limit = 20,
    offset: Offset = 0,
):
    query = select(Foo).order_by(Foo.created_at, Foo.id)
    rows = db.scalars(query.limit(limit + 1).offset(offset)).all()
    bounded = select(literal(1)).select_from(Foo).limit(TOTAL_BOUND + 1)
    counted = db.scalar(select(func.count()).select_from(bounded.subquery()))
    items = [foo_record(foo) for foo in rows]
    last = items[min(limit, len(items)) - 1] if items else None
    position = [last.created_at, last.id] if last else []
    return page(request, response, items, limit, offset, counted, position)


@app.post("/v1/foo/", response_model=Record, status_code=201)
def create_foo(body: Write, db: SessionDependency):
    moment = now()
    foo = Foo(name=body.name, created_at=moment, updated_at=moment, version=1)
    db.add(foo)
    db.commit()
    return foo_record(foo)


@app.get("/v1/bar/{id}")
def get_bar(id: str):
    stored = store.get(PREFIX + id)
    if stored is None:
        raise HTTPException(404, "not found")
    return Response(stored, media_type="application/json")


@app.get("/v1/bar/", response_model=Page)
def list_bar(
    request: Request, response: Response, limit: Limit = 20, offset: Offset = 0
):
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
    items = [Record(**json.loads(value)) for value in stored if value is not None]
    position = [entries[min(limit, len(entries)) - 1][1]] if entries else []
    return page(request, response, items, limit, offset, counted, position)


@app.post("/v1/bar/", response_model=Record, status_code=201)
def create_bar(body: Write):
    id = uuid.uuid4().hex
    moment = now().isoformat() + "Z"
    bar = Record(id=id, name=body.name, created_at=moment, updated_at=moment)
    create_bar_script(
        keys=[PREFIX + id, PREFIX + "index", PREFIX + "seq"],
        args=[bar.model_dump_json(), id],
    )
    return bar
