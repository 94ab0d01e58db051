"""Liveness, readiness and metrics, for load balancers, deploys and Prometheus.

The blueprint is exempt from rate limits (the factory says so).
"""

import redis
import sqlalchemy as sa
from flask import Blueprint, jsonify

from ..api import metrics
from ..api.problems import Problem
from ..db import redis_store, sql

blueprint = Blueprint("ops", __name__)

# What a failed check reports for the store; details go to the log, not the body.
UNAVAILABLE = "unavailable"


@blueprint.get("/health")
def health():
    """200 while the process serves requests: no store is touched."""
    return jsonify(status="ok")


@metrics.store_call("sql", "ping")
def _ping_sql():
    sql.session.execute(sa.text("SELECT 1"))


@metrics.store_call("redis", "ping")
def _ping_redis():
    """Redis answers. An error reply is an answer too: Redis refuses PING with
    writes while a snapshot is failing (MISCONF), and reads still serve then."""
    try:
        redis_store.ping()
    except redis.ResponseError:
        pass


def _check_sql():
    try:
        _ping_sql()
        sql.session.rollback()
        return "ok"
    except Exception:
        sql.session.rollback()
        return UNAVAILABLE


def _check_redis():
    try:
        _ping_redis()
        return "ok"
    except Exception:
        return UNAVAILABLE


@blueprint.get("/ready")
def ready():
    """200 when every backing store answers, else 503 naming the one that does not."""
    checks = {"sql": _check_sql(), "redis": _check_redis()}
    if all(state == "ok" for state in checks.values()):
        return jsonify(status="ok", checks=checks)
    down = ", ".join(name for name, state in checks.items() if state != "ok")
    raise Problem(503, f"Unavailable: {down}.", extra={"checks": checks})


blueprint.add_url_rule("/metrics", "metrics", metrics.metrics_view, methods=["GET"])
