"""Private stores: PostgreSQL and MariaDB (scripts/postgres.sh, mariadb.sh, which
scripts/with-postgres.sh and with-mariadb.sh use too) and redis-server."""

from __future__ import annotations

import hashlib
import secrets
import shutil
import subprocess
from pathlib import Path

import redis

from .processes import Processes, free_port, wait_until

ROOT = Path(__file__).resolve().parent.parent.parent
REDIS_CONF = ROOT / "deploy" / "redis.conf"
REDIS_USERS = ROOT / "deploy" / "redis-users.acl.in"


class Database:
    """A private SQL server in ``folder``, from scripts/<kind>.sh."""

    def __init__(self, kind: str, folder: Path) -> None:
        self.script = ROOT / "scripts" / f"{kind}.sh"
        self.kind = kind
        self.folder = folder
        self.url = ""

    def start(self) -> None:
        started = subprocess.run(
            [str(self.script), "start", str(self.folder)],
            capture_output=True,
            text=True,
            timeout=180,
        )
        if started.returncode:
            raise RuntimeError(f"{self.kind} did not start: {started.stderr}")
        self.url = started.stdout.strip()

    def stop(self) -> None:
        subprocess.run([str(self.script), "stop", str(self.folder)], timeout=60)


def start_postgres(folder: Path) -> Database:
    """PostgreSQL on a free loopback port; its URL in ``.url``. The folder's
    parent must be readable by "nobody" when run as root (postgres.sh)."""
    database = Database("postgres", folder)
    database.start()
    return database


def start_mariadb(folder: Path) -> Database:
    database = Database("mariadb", folder)
    database.start()
    return database


def redis_binary() -> str | None:
    return shutil.which("redis-server")


def _sha256(password: str) -> str:
    return hashlib.sha256(password.encode()).hexdigest()


class RedisServer:
    """A redis-server that may be stopped (or killed) and started again on the
    same port and folder.

    ``production``: deploy/redis.conf with the users of deploy/redis-users.acl.in
    (``url`` is the app's user ``myapp``, ``admin()`` the ``admin`` user); else
    no persistence and no users. ``unix_socket``: listen there instead of TCP.
    """

    def __init__(
        self,
        processes: Processes,
        folder: Path,
        production: bool = False,
        unix_socket: Path | None = None,
        extra: tuple[str, ...] = (),
        name: str = "redis-server",
    ) -> None:
        self.processes = processes
        self.folder = folder
        self.production = production
        self.unix_socket = unix_socket
        self.extra = extra
        self.name = name
        self.port = 0 if unix_socket else free_port()
        self.log = folder / "redis.log"
        self.app_password = secrets.token_hex(16)
        self.admin_password = secrets.token_hex(16)
        self.process: subprocess.Popen | None = None
        if production:
            lines = REDIS_USERS.read_text().splitlines()
            users = "\n".join(line for line in lines if not line.startswith("#"))
            users = users.replace("APP_PASSWORD_SHA256", _sha256(self.app_password))
            users = users.replace("ADMIN_PASSWORD_SHA256", _sha256(self.admin_password))
            (folder / "users.acl").write_text(users + "\n")

    @property
    def url(self) -> str:
        if self.unix_socket:
            return f"unix://{self.unix_socket}?db=0"
        user = f"myapp:{self.app_password}@" if self.production else ""
        return f"redis://{user}127.0.0.1:{self.port}/0"

    def argv(self) -> list[str]:
        binary = redis_binary()
        if binary is None:
            raise RuntimeError("redis-server is not installed (make test installs it)")
        argv = [binary] + ([str(REDIS_CONF)] if self.production else [])
        argv += ["--bind", "127.0.0.1", "--port", str(self.port)]
        argv += ["--dir", str(self.folder)]
        if self.production:
            argv += ["--aclfile", str(self.folder / "users.acl")]
        else:
            argv += ["--save", "", "--appendonly", "no"]
        if self.unix_socket:
            argv += ["--unixsocket", str(self.unix_socket)]
        return argv + list(self.extra)

    def admin(self, **options) -> redis.Redis:
        """A client allowed everything (the ``admin`` user in production)."""
        if self.unix_socket:
            return redis.Redis(unix_socket_path=str(self.unix_socket), **options)
        if self.production:
            options.update(username="admin", password=self.admin_password)
        return redis.Redis("127.0.0.1", self.port, **options)

    def start(self, timeout: float = 20) -> None:
        """Start, and return once it answers (an AOF is loaded by then)."""
        self.process = self.processes.start(self.name, self.argv(), self.log)
        client = self.admin(socket_timeout=5)
        try:
            wait_until(
                client.ping,
                f"redis-server (see {self.log})",
                timeout,
                self.process,
                ignore=(redis.ConnectionError, redis.exceptions.BusyLoadingError),
            )
        finally:
            client.close()

    def stop(self) -> None:
        self.processes.stop(self.name)

    def kill(self) -> None:
        self.processes.kill(self.name)

    def flush(self) -> None:
        client = self.admin()
        client.flushdb()
        client.close()


def start_redis(processes: Processes, folder: Path, **options) -> RedisServer:
    """A started RedisServer (options as RedisServer's)."""
    server = RedisServer(processes, folder, **options)
    server.start()
    return server
