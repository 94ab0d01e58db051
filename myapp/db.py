"""Extension instances, imported by the factory and by features.

Nothing here imports from myapp, so any module can import these without cycles.
"""

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
            "retry": Retry(NoBackoff(), 1),
            "health_check_interval": 30,
        }
        options.update(self.provider_kwargs)
        options.update(kwargs)
        client = redis.Redis.from_url(app.config["REDIS_URL"], **options)
        app.extensions["redis"] = client

    @property
    def client(self) -> redis.Redis:
        return self.client_of(current_app)

    @staticmethod
    def client_of(app: Flask) -> redis.Redis:
        return app.extensions["redis"]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


redis_store = AppRedis()
