"""The scale test's stack: a private PostgreSQL and a redis-server as production's
(deploy/redis.conf with the users of deploy/redis-users.acl.in); two uWSGI
instances, A and B, each started with the production myapp.ini from its own copy
of the checkout (its own instance folder) and its own loopback socket; and a
private nginx whose site is deploy/nginx-myapp.conf with the upstream pointed at
both sockets and, for the test only, an ``X-Upstream`` header naming the instance
that answered. Everything listens on loopback only, on free ports."""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import sys
import urllib.parse
from pathlib import Path

from scripts.harness import (
    Database,
    RedisServer,
    Uwsgi,
    deploy_site,
    free_port,
    http_status,
    start_nginx,
    wait_until,
)
from scripts.harness.client import Addresses, request

ROOT = Path(__file__).resolve().parent.parent.parent
VENV_BIN = Path(sys.executable).parent
# Rate limit set on both instances, per client address.
RATE_LIMIT = 20
# What a copy of the checkout leaves out: per-machine files and caches.
NOT_COPIED = shutil.ignore_patterns(
    ".git", "venv", "venvs", ".venv", "instance", "node_modules", "__pycache__"
)
NOT_COPIED_TOP = {".test-artifacts", ".pytest_cache", ".hypothesis", "bench"}
NGINX_LOG = (
    '$remote_addr "$request" $status $request_time '
    "upstream=$upstream_addr status=$upstream_status"
)


def copy_checkout(destination):
    """As a deploy would: the code, without venv, instance/ or caches."""

    def ignore(folder, names):
        ignored = set(NOT_COPIED(folder, names))
        if Path(folder) == ROOT:
            ignored |= NOT_COPIED_TOP & set(names)
        return ignored

    shutil.copytree(ROOT, destination, ignore=ignore)


class Instance(Uwsgi):
    """App server A or B: its own copy of the checkout, uWSGI socket (``socket``,
    in nginx's upstream) and HTTP socket (``http_port``, for direct requests)."""

    def __init__(self, stack, name):
        self.socket = f"127.0.0.1:{free_port()}"
        self.letter = name.upper()
        super().__init__(
            stack.processes,
            f"uwsgi-{name}",
            dict(stack.environment(), MYAPP_SOCKET=self.socket),
            stack.work / name / "uwsgi.log",
            checkout=stack.work / name / "app",
            http_port=free_port(),
        )


class Stack:
    """What the checks share: the servers, the tokens, the client addresses, and
    how many foos were created (201), which PostgreSQL must hold at the end."""

    def __init__(self, work, processes):
        self.work = work
        self.processes = processes
        self.addresses = Addresses()
        self.token = "scale-" + secrets.token_hex(12)
        self.metrics_token = "scrape-" + secrets.token_hex(12)
        self.nginx_port = free_port()
        self.ready_port = free_port()
        self.foo_created = 0
        self.paths = {}
        self.instances = []
        self.database = Database("postgres", work / "pg")

    def start(self):
        self.database.start()
        (self.work / "redis").mkdir()
        self.redis_server = RedisServer(
            self.processes, self.work / "redis", production=True
        )
        self.redis_server.start()
        self.redis = self.redis_server.admin(socket_timeout=5)
        for name in ("a", "b"):
            copy_checkout(self.work / name / "app")
        # Migrations once, from one server, before either serves.
        migrate = subprocess.run(
            [str(VENV_BIN / "flask"), "--app", "myapp", "db", "upgrade"],
            cwd=self.work / "a" / "app",
            env=self.environment(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        if migrate.returncode:
            raise RuntimeError(f"flask db upgrade failed: {migrate.stderr}")
        self.instances = [Instance(self, "a"), Instance(self, "b")]
        for instance in self.instances:
            instance.start()
        for instance in self.instances:
            instance.wait_ready()
        self.nginx = start_nginx(
            self.processes, self.work / "nginx", self.site(), log_format=NGINX_LOG
        )
        wait_until(
            lambda: http_status(self.nginx_port, "/health") == 200,
            "nginx answers",
            20,
            self.nginx.process,
        )

    def stop(self):
        self.processes.stop_all()
        self.database.stop()

    def environment(self):
        """What both servers share: store URLs, tokens, prefix, rate limit."""
        return {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "MYAPP_SQLALCHEMY_DATABASE_URI": self.database.url,
            "MYAPP_REDIS_URL": self.redis_server.url,
            # The prefix deploy/redis-users.acl.in lets the app's user write.
            "MYAPP_REDIS_KEY_PREFIX": "myapp:",
            "MYAPP_API_TOKENS": self.token,
            "MYAPP_METRICS_TOKEN": self.metrics_token,
            "MYAPP_RATELIMIT_DEFAULT": f"{RATE_LIMIT}/minute",
            "MYAPP_PROCESSES": "2",
            "MYAPP_THREADS": "4",
        }

    def site(self, down=()):
        return deploy_site(
            [instance.socket for instance in self.instances],
            self.nginx_port,
            self.ready_port,
            [instance.socket for instance in down],
        )

    @property
    def sockets(self):
        return {instance.socket for instance in self.instances}

    def name_of(self, upstream):
        for instance in self.instances:
            if instance.socket == upstream:
                return instance.letter
        return f"? ({upstream})"

    def call(self, method, path, body=None, headers=None, source=None, timeout=None):
        """A request through nginx, from ``source`` or a new client address;
        writes carry the API token."""
        headers = dict(headers or {})
        if method != "GET":
            headers["Authorization"] = f"Bearer {self.token}"
        return request(
            self.nginx_port,
            method,
            path,
            body,
            headers,
            source or self.addresses.take(),
            timeout,
        )

    def create(self, feature, name):
        """POST a record through nginx, counting the foos created."""
        created = self.call("POST", f"/v1/{feature}/", {"name": name})
        if feature == "foo":
            self.foo_created += created.status == 201
        return created

    def answered_by_other(self, path, first, tries=10):
        """GET through nginx until an instance other than ``first`` answers."""
        for _ in range(tries):
            answer = self.call("GET", path)
            if answer.upstream and answer.upstream != first:
                return answer
        return answer

    def count_named(self, feature, name):
        """How many records of ``feature`` are called ``name``, in the stores."""
        if feature == "foo":
            query = urllib.parse.urlencode({"name": name})
            return (self.call("GET", f"/v1/foo/?{query}").json() or {}).get("total")
        records = [
            json.loads(value)
            for key in self.redis.scan_iter("myapp:bar:*")
            if not key.endswith((b":index", b":seq"))
            for value in [self.redis.get(key)]
            if value is not None
        ]
        return sum(record.get("name") == name for record in records)

    def print_logs(self):
        """The last lines of the servers' logs, without access lines."""
        for name in ("a/uwsgi.log", "b/uwsgi.log", "nginx/error.log"):
            path = self.work / name
            if path.exists():
                lines = [
                    line
                    for line in path.read_text(errors="replace").splitlines()
                    if '"logger": "myapp.access"' not in line
                ][-30:]
                print(f"--- last lines of {name} ---", file=sys.stderr)
                print("\n".join(lines), file=sys.stderr)
