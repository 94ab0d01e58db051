"""Extension instances, imported by the factory and by features.

Nothing here imports from myapp, so any module can import these without cycles.
"""

import os
import threading
import weakref
from collections.abc import Callable
from typing import Any

import redis
from flask import Flask, current_app
from flask_migrate import Migrate
from flask_redis import FlaskRedis
from flask_sqlalchemy import SQLAlchemy
from redis.backoff import NoBackoff
from redis.retry import Retry

# "create_savepoint" only matters when a session is bound to a connection that is
# already in a transaction, which is what the test harness does to roll every test
# back while the code under test still calls commit(); bound to an engine (as in
# production) sessions behave as usual.
sql = SQLAlchemy(session_options={"join_transaction_mode": "create_savepoint"})

migrate = Migrate()


class ThreadClients:
    """An app's Redis clients: one per thread, each keeping a connection of its own.

    redis-py's pool hands a connection out and takes it back for every command (a
    lock each way, a fork check, a poll for stray bytes, connection counts for its
    metrics): three quarters as many instructions again as the command itself
    (README, "Redis clients"). A server thread runs one request at a time, so each
    thread keeps one connection instead: redis-py's ``Redis.client()``, a
    single-connection client on the app's pool, made at the thread's first
    command. Pipelines still borrow from the pool.
    """

    def __init__(self, pooled: redis.Redis) -> None:
        self.pooled = pooled
        self._setups: list[Callable[[redis.Redis], None]] = []
        self._local = threading.local()
        _every_app.add(self)

    def get(self) -> redis.Redis:
        """This thread's client (connecting it at its first use)."""
        client = getattr(self._local, "client", None)
        if client is None:
            client = self.pooled.client()
            for setup in self._setups:
                setup(client)
            self._local.client = client
        return client

    def setup(self, step: Callable[[redis.Redis], None]) -> None:
        """Apply ``step`` to each client as it is made (the factory calls this
        before the app serves, so no client is made without it)."""
        self._setups.append(step)

    def forget(self) -> None:
        """Drop every thread's client: a forked child makes connections of its own."""
        self._local = threading.local()


_every_app: weakref.WeakSet[ThreadClients] = weakref.WeakSet()


def _forget_in_child() -> None:
    for clients in list(_every_app):
        clients.forget()


os.register_at_fork(after_in_child=_forget_in_child)


class AppRedis(FlaskRedis):
    """flask-redis, with one client per app instead of one per extension object.

    flask-redis 0.4.0 keeps a single client on the extension and every ``init_app``
    replaces it, so with two apps in one process (tests, or an app and a CLI) the
    first would silently talk to the second one's Redis. Here each app keeps its own
    client in ``app.extensions`` and attribute access resolves the current app's.
    """

    def init_app(self, app: Flask, **kwargs: Any) -> None:
        options = {
            "decode_responses": True,
            "socket_connect_timeout": app.config["REDIS_SOCKET_CONNECT_TIMEOUT"],
            "socket_timeout": app.config["REDIS_SOCKET_TIMEOUT"],
            # One quick retry heals a pooled connection that Redis closed (restart);
            # redis-py's default backs off for seconds, which would hang requests.
            # No health_check_interval: its PING is refused while a snapshot is
            # failing (MISCONF), which would make every new connection fail reads.
            "retry": Retry(NoBackoff(), 1),
        }
        options.update(self.provider_kwargs)
        options.update(kwargs)
        pooled = redis.Redis.from_url(app.config["REDIS_URL"], **options)
        app.extensions["redis"] = ThreadClients(pooled)

    @property
    def client(self) -> redis.Redis:
        return self.client_of(current_app)

    @staticmethod
    def client_of(app: Flask) -> redis.Redis:
        """The app's client for this thread."""
        return app.extensions["redis"].get()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


redis_store = AppRedis()
