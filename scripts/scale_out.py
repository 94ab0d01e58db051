"""`make scale-test`: two app servers behind nginx, sharing PostgreSQL and Redis.

Shows that the service holds no state of its own, so it can run on several
machines. On this machine: a private PostgreSQL (scripts/postgres.sh) and
redis-server; two uWSGI instances, A and B, each started with the production
myapp.ini from its own copy of the checkout (its own instance folder) and its own
loopback socket; and a private nginx whose site is deploy/nginx-myapp.conf with
the upstream pointed at both sockets and, for the test only, an ``X-Upstream``
header naming the instance that answered. Through nginx it checks that what one
instance writes the other reads, that 16 clients racing with one If-Match over
both instances leave exactly one winner, that rate limits are counted across
instances, that a POST retried with its Idempotency-Key after its server stopped
mid-request creates one record, and that restarting instance A while a load runs
fails no request. redis-server runs as production's: deploy/redis.conf with the
users of deploy/redis-users.acl.in.

Everything listens on loopback only, on free ports, and is stopped by PID at the
end, whatever happens; the whole run is bounded by RUN_TIMEOUT. Prints a PASS or
FAIL line per check and exits non-zero on any failure. SCALE_KEEP=1 keeps the
work folder (logs, generated nginx config).
"""

import concurrent.futures
import hashlib
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

import redis

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
RUN_TIMEOUT = 300
REQUEST_TIMEOUT = 40
# Rate limit set on both instances, per client address.
RATE_LIMIT = 20
# The load during the restart: requests per second, at least this many requests,
# and, once instance A is back, this many seconds more of it.
LOAD_RATE = 40
LOAD_MIN_REQUESTS = 300
LOAD_AFTER_RESTART = 3.0
LOAD_MAX_REQUESTS = 1500
LOAD_CLIENTS = 8
# A client that gets no answer within this many seconds gives up and retries.
RETRY_CLIENT_TIMEOUT = 2.0
# What a copy of the checkout leaves out: per-machine files and caches.
NOT_COPIED = shutil.ignore_patterns(
    ".git", "venv", "venvs", ".venv", "instance", "node_modules", "__pycache__"
)
NOT_COPIED_TOP = {".test-artifacts", ".pytest_cache", ".hypothesis", "bench"}


def log(message):
    print(f"scale: {message}", file=sys.stderr, flush=True)


def sha256(text):
    return hashlib.sha256(text.encode()).hexdigest()


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Stop(Exception):
    """A signal or the run's time limit: clean up and fail."""


def _stop_on_signal(number, frame):
    raise Stop(f"stopped by {signal.Signals(number).name}")


# --- Processes ------------------------------------------------------------------


class Processes:
    """What the run started, each stopped by its PID (its own process group)."""

    def __init__(self):
        self.running = {}

    def start(self, name, argv, log_path, env=None, cwd=None):
        with open(log_path, "ab") as output:
            process = subprocess.Popen(
                argv,
                env=env,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.running[name] = process
        log(f"started {name} (PID {process.pid})")
        return process

    def stop(self, name, timeout=30):
        """SIGTERM (what systemd sends), a wait, then SIGKILL to what is left of
        the process's group (its own, from start_new_session)."""
        process = self.running.get(name)
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                log(f"{name} (PID {process.pid}) still runs after {timeout} s")
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(10)
        del self.running[name]

    def stop_all(self):
        for name in reversed(list(self.running)):
            try:
                self.stop(name)
            except Exception as error:  # keep stopping the others
                log(f"could not stop {name}: {error}")


def child_processes(parent):
    """PIDs of the live children of ``parent`` (from /proc)."""
    children = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            state, ppid = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:2]
        except (OSError, ValueError):
            continue
        if int(ppid) == parent and state != "Z":
            children.add(int(entry.name))
    return children


def wait_until(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not within {timeout} s")
        time.sleep(0.1)


# --- HTTP -----------------------------------------------------------------------


class Answer:
    """One response (status 0 when there was none) and who answered it."""

    def __init__(self, status=0, headers=None, body=b"", error=None, seconds=0.0):
        self.status = status
        self.headers = headers or {}
        self.body = body
        self.error = error
        self.seconds = seconds

    @property
    def upstream(self):
        """The uWSGI socket nginx used last (X-Upstream lists every one it tried)."""
        return self.headers.get("x-upstream", "").split(",")[-1].strip()

    @property
    def retried(self):
        return "," in self.headers.get("x-upstream", "")

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def __repr__(self):
        text = self.error or self.body[:300].decode(errors="replace")
        return f"<{self.status} from {self.upstream or '?'}: {text}>"


class Addresses:
    """Client addresses: every 127.x.y.z is loopback, so clients can differ."""

    def __init__(self):
        self.lock = threading.Lock()
        self.count = 0

    def take(self):
        with self.lock:
            self.count += 1
            return f"127.0.{1 + self.count // 250}.{1 + self.count % 250}"


def request(
    port, method, path, body=None, headers=None, source="127.0.0.1", timeout=None
):
    headers = dict(headers or {})
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers.setdefault("Content-Type", "application/json")
    began = time.monotonic()
    connection = http.client.HTTPConnection(
        "127.0.0.1",
        port,
        timeout=timeout or REQUEST_TIMEOUT,
        source_address=(source, 0),
    )
    try:
        connection.request(method, path, body=data, headers=headers)
        response = connection.getresponse()
        answer = Answer(
            response.status,
            {name.lower(): value for name, value in response.getheaders()},
            response.read(),
        )
    except (OSError, http.client.HTTPException) as error:
        answer = Answer(error=f"{type(error).__name__}: {error}")
    finally:
        connection.close()
    answer.seconds = time.monotonic() - began
    return answer


def location_path(created, feature):
    """The path in a 201's Location (a made-up one if there is none)."""
    location = created.headers.get("location")
    if not location:
        return f"/v1/{feature}/none"
    return urllib.parse.urlsplit(location).path


# --- The scale-out setup --------------------------------------------------------


class Instance:
    """One app server: its copy of the checkout, its sockets, its uWSGI master."""

    def __init__(self, name, work):
        self.name = name
        self.folder = work / name
        self.app = self.folder / "app"
        self.socket = f"127.0.0.1:{free_port()}"
        self.http_port = free_port()
        self.log = self.folder / "uwsgi.log"
        self.process = None

    def copy_checkout(self):
        """As a deploy would: the code, without venv, instance/ or caches."""

        def ignore(folder, names):
            ignored = set(NOT_COPIED(folder, names))
            if Path(folder) == REPO:
                ignored |= NOT_COPIED_TOP & set(names)
            return ignored

        shutil.copytree(REPO, self.app, ignore=ignore)

    def start(self, processes, environment):
        """uWSGI as the systemd unit starts it, plus an HTTP socket of its own."""
        argv = [str(VENV_BIN / "uwsgi"), "--ini", str(self.app / "myapp.ini")]
        argv += ["--http-socket", f"127.0.0.1:{self.http_port}"]
        env = dict(environment, MYAPP_SOCKET=self.socket)
        self.process = processes.start(
            f"uwsgi-{self.name}", argv, self.log, env=env, cwd=self.app
        )

    def ready(self):
        return request(self.http_port, "GET", "/ready").status == 200

    def wait_ready(self, timeout=60):
        def up():
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"uWSGI {self.name} exited ({self.process.returncode}),"
                    f" see {self.log}"
                )
            return self.ready()

        wait_until(up, timeout, f"instance {self.name} ready")


def nginx_site(instances, port, ready_port, down=()):
    """deploy/nginx-myapp.conf, with its upstream (the instances, those in ``down``
    marked down) and ports moved to this run, and X-Upstream added. Fails loudly if
    that file no longer has the expected shape."""
    text = (REPO / "deploy" / "nginx-myapp.conf").read_text()
    servers = "".join(
        f"    server {instance.socket}{' down' if instance in down else ''};\n"
        for instance in instances
    )
    edits = [
        (r"upstream myapp \{[^}]*\}", "upstream myapp {\n" + servers + "}"),
        (r"\n[ \t]*listen \[::\]:80;", ""),
        (r"listen 80;", f"listen 127.0.0.1:{port};"),
        (r"listen 127\.0\.0\.1:8081;", f"listen 127.0.0.1:{ready_port};"),
        (
            r"uwsgi_pass myapp;",
            "uwsgi_pass myapp;\n        add_header X-Upstream $upstream_addr always;",
        ),
    ]
    for pattern, replacement in edits:
        text, count = re.subn(pattern, lambda match: replacement, text)
        if not count:
            raise RuntimeError(
                f"deploy/nginx-myapp.conf has no {pattern!r}:"
                " update scripts/scale_out.py to match it"
            )
    return text


def nginx_conf(folder, site):
    """A private nginx: its own prefix, pid, logs and temp folders, no daemon."""
    paths = {kind: folder / kind for kind in ("body", "proxy", "fastcgi", "uwsgi")}
    for path in paths.values():
        path.mkdir()
    user = "user nobody nogroup;\n" if os.geteuid() == 0 else ""
    return f"""{user}daemon off;
worker_processes 2;
pid {folder}/nginx.pid;
error_log {folder}/error.log notice;
events {{
    worker_connections 512;
}}
http {{
    log_format upstream '$remote_addr "$request" $status $request_time '
                        'upstream=$upstream_addr status=$upstream_status';
    access_log {folder}/access.log upstream;
    client_body_temp_path {paths["body"]};
    proxy_temp_path {paths["proxy"]};
    fastcgi_temp_path {paths["fastcgi"]};
    uwsgi_temp_path {paths["uwsgi"]};
    scgi_temp_path {paths["body"]};
{site}
}}
"""


def find_nginx():
    for candidate in (shutil.which("nginx"), "/usr/sbin/nginx"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise RuntimeError("nginx is not installed (apt-get install nginx)")


def services_stay_down():
    """True where Debian's policy-rc.d keeps package installs from starting
    services (containers, CI machines)."""
    policy = Path("/usr/sbin/policy-rc.d")
    if not os.access(policy, os.X_OK):
        return False
    return (
        subprocess.run([policy, "nginx", "start"], capture_output=True).returncode
        == 101
    )


def ensure_nginx():
    """Debian's nginx, installed when missing, but only where the install cannot
    start a system-wide nginx on port 80: this test runs a private one."""
    try:
        return find_nginx()
    except RuntimeError:
        if not services_stay_down():
            raise RuntimeError(
                "nginx is not installed. Install it (apt-get install nginx) and retry;"
                " this test runs a private nginx and never uses the system's."
            ) from None
    subprocess.run(
        [str(REPO / "scripts" / "system-packages.sh"), "nginx=nginx"],
        check=True,
        timeout=600,
    )
    return find_nginx()


def uwsgi_params():
    """The uwsgi_params file nginx's package ships (deploy's site includes it)."""
    output = subprocess.run(
        [find_nginx(), "-V"], capture_output=True, text=True, check=True
    ).stderr
    match = re.search(r"--conf-path=(\S+)", output)
    folder = Path(match.group(1)).parent if match else Path("/etc/nginx")
    return folder / "uwsgi_params"


# --- The checks -----------------------------------------------------------------


class Run:
    def __init__(self, work):
        self.work = work
        self.processes = Processes()
        self.results = []
        self.addresses = Addresses()
        self.token = "scale-" + secrets.token_hex(12)
        self.metrics_token = "scrape-" + secrets.token_hex(12)
        self.instances = [Instance("a", work), Instance("b", work)]
        self.nginx_port = free_port()
        self.foo_created = 0

    # - reporting -

    def check(self, name, passed, detail=""):
        """Record and print one check; what was seen is printed when it fails."""
        self.results.append((bool(passed), name))
        print(f"{'PASS' if passed else 'FAIL'}  {name}", flush=True)
        if detail and not passed:
            print(f"      saw: {detail[:2000]}", flush=True)
        return passed

    @property
    def failed(self):
        return [name for passed, name in self.results if not passed]

    def name_of(self, upstream):
        for instance in self.instances:
            if instance.socket == upstream:
                return instance.name.upper()
        return f"? ({upstream})"

    # - requests through nginx -

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

    def answered_by_other(self, path, first, tries=10):
        """GET through nginx until an instance other than ``first`` answers."""
        for _ in range(tries):
            answer = self.call("GET", path)
            if answer.upstream and answer.upstream != first:
                return answer
        return answer

    # - set-up -

    def start_stores(self):
        database = subprocess.run(
            [str(REPO / "scripts" / "postgres.sh"), "start", str(self.work / "pg")],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if database.returncode:
            raise RuntimeError(f"PostgreSQL did not start: {database.stderr}")
        self.database_url = database.stdout.strip()
        self.redis_port = free_port()
        folder = self.work / "redis"
        folder.mkdir()
        self.redis_password = secrets.token_hex(16)
        admin_password = secrets.token_hex(16)
        lines = (REPO / "deploy" / "redis-users.acl.in").read_text().splitlines()
        users = "\n".join(line for line in lines if not line.startswith("#"))
        users = users.replace("APP_PASSWORD_SHA256", sha256(self.redis_password))
        users = users.replace("ADMIN_PASSWORD_SHA256", sha256(admin_password))
        (folder / "users.acl").write_text(users + "\n")
        self.processes.start(
            "redis-server",
            [shutil.which("redis-server"), str(REPO / "deploy" / "redis.conf")]
            + ["--bind", "127.0.0.1", "--port", str(self.redis_port)]
            + ["--dir", str(folder), "--aclfile", str(folder / "users.acl")],
            folder / "redis.log",
        )
        self.redis = redis.Redis(
            "127.0.0.1",
            self.redis_port,
            username="admin",
            password=admin_password,
            socket_timeout=5,
        )

        def redis_up():
            try:
                return self.redis.ping()
            except (redis.ConnectionError, redis.exceptions.BusyLoadingError):
                return False

        wait_until(redis_up, 20, "redis-server answers")

    def environment(self):
        """What both servers share: store URLs, tokens, prefix, rate limit."""
        return {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "MYAPP_SQLALCHEMY_DATABASE_URI": self.database_url,
            "MYAPP_REDIS_URL": (
                f"redis://myapp:{self.redis_password}@127.0.0.1:{self.redis_port}/0"
            ),
            # The prefix deploy/redis-users.acl.in lets the app's user write.
            "MYAPP_REDIS_KEY_PREFIX": "myapp:",
            "MYAPP_API_TOKENS": self.token,
            "MYAPP_METRICS_TOKEN": self.metrics_token,
            "MYAPP_RATELIMIT_DEFAULT": f"{RATE_LIMIT}/minute",
            "MYAPP_PROCESSES": "2",
            "MYAPP_THREADS": "4",
        }

    def start_servers(self):
        for instance in self.instances:
            instance.copy_checkout()
        # Migrations once, from one server, before either serves.
        migrate = subprocess.run(
            [str(VENV_BIN / "flask"), "--app", "myapp", "db", "upgrade"],
            cwd=self.instances[0].app,
            env=self.environment(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        if migrate.returncode:
            raise RuntimeError(f"flask db upgrade failed: {migrate.stderr}")
        for instance in self.instances:
            instance.start(self.processes, self.environment())
        for instance in self.instances:
            instance.wait_ready()

    def write_site(self, down=()):
        """The site, checked by ``nginx -t``; True when nginx accepts it."""
        site = nginx_site(self.instances, self.nginx_port, self.ready_port, down)
        (self.work / "nginx" / "site.conf").write_text(site)
        test = subprocess.run(self.nginx + ["-t"], capture_output=True, text=True)
        if test.returncode:
            log(test.stderr.strip())
        return test.returncode == 0

    def start_nginx(self):
        folder = self.work / "nginx"
        folder.mkdir()
        shutil.copy(uwsgi_params(), folder / "uwsgi_params")
        conf = folder / "nginx.conf"
        conf.write_text(nginx_conf(folder, "    include site.conf;"))
        self.nginx = [find_nginx(), "-p", str(folder), "-c", str(conf)]
        self.ready_port = free_port()
        accepted = self.write_site()
        self.check(
            "nginx accepts the site derived from deploy/nginx-myapp.conf", accepted
        )
        if not accepted:
            raise RuntimeError("nginx -t failed")
        self.processes.start("nginx", self.nginx, folder / "nginx.out")
        wait_until(
            lambda: request(self.nginx_port, "GET", "/health").status == 200,
            20,
            "nginx answers",
        )

    # - checks -

    def check_balancing(self):
        answers = [self.call("GET", "/ready") for _ in range(6)]
        upstreams = {answer.upstream for answer in answers}
        self.check(
            "nginx spreads requests over both instances",
            all(answer.status == 200 for answer in answers)
            and upstreams == {instance.socket for instance in self.instances},
            f"{answers}",
        )

    def check_shared_state(self, feature):
        """Create through one instance, change through the other, read on both."""
        store = {"foo": "PostgreSQL", "bar": "Redis"}[feature]
        created = self.call(
            "POST", f"/v1/{feature}/", {"name": f"made on one {feature}"}
        )
        if feature == "foo":
            self.foo_created += created.status == 201
        path = location_path(created, feature)
        read = self.answered_by_other(path, created.upstream)
        self.check(
            f"{feature} created on one instance is read on the other ({store})",
            created.status == 201
            and read.status == 200
            and read.upstream != created.upstream
            and read.json() == created.json()
            and read.headers.get("etag") == created.headers.get("etag"),
            f"created {created!r}, read {read!r}",
        )
        changed = self.call(
            "PUT",
            path,
            {"name": f"changed on {self.name_of(read.upstream)}"},
            {"If-Match": read.headers.get("etag", "")},
        )
        direct = [
            request(instance.http_port, "GET", path) for instance in self.instances
        ]
        self.check(
            f"{feature} changed on one instance reads the same on both",
            changed.status == 200
            and all(answer.status == 200 for answer in direct)
            and all(answer.json() == changed.json() for answer in direct)
            and {answer.headers.get("etag") for answer in direct}
            == {changed.headers.get("etag")},
            f"PUT {changed!r}, direct reads {direct!r}",
        )
        self.check_cursor_crosses_instances(feature)
        return path

    def check_cursor_crosses_instances(self, feature):
        """A next_cursor one instance made pages on the other (a shared key)."""
        for n in range(2):
            created = self.call("POST", f"/v1/{feature}/", {"name": f"paged {n}"})
            if feature == "foo":
                self.foo_created += created.status == 201
        made_on, followed_on = self.instances
        first = request(made_on.http_port, "GET", f"/v1/{feature}/?limit=1")
        cursor = (first.json() or {}).get("next_cursor")
        query = urllib.parse.urlencode({"cursor": cursor or "", "limit": 1})
        following = request(followed_on.http_port, "GET", f"/v1/{feature}/?{query}")
        body = following.json() or {}
        self.check(
            f"{feature}: a cursor made by one instance pages on the other",
            first.status == 200
            and cursor
            and following.status == 200
            and len(body.get("items", ())) == 1
            and body["items"] != first.json()["items"],
            f"first {first!r}, following {following!r}",
        )

    def race(self, feature, clients=16, rounds=3):
        """16 clients PUT with one If-Match at once, over both instances."""
        outcomes = []
        for round_number in range(rounds):
            created = self.call("POST", f"/v1/{feature}/", {"name": "race start"})
            if feature == "foo":
                self.foo_created += created.status == 201
            path = location_path(created, feature)
            etag = created.headers.get("etag", "")
            barrier = threading.Barrier(clients)
            sources = [self.addresses.take() for _ in range(clients)]

            def put(n):
                barrier.wait(30)
                return self.call(
                    "PUT",
                    path,
                    {"name": f"writer {n}"},
                    {"If-Match": etag},
                    source=sources[n],
                )

            with concurrent.futures.ThreadPoolExecutor(clients) as pool:
                answers = list(pool.map(put, range(clients)))
            statuses = sorted(answer.status for answer in answers)
            winners = [n for n, answer in enumerate(answers) if answer.status == 200]
            final = self.call("GET", path).json() or {}
            outcomes.append(
                (
                    created.status,
                    statuses,
                    {answer.upstream for answer in answers},
                    final.get("name"),
                    winners,
                )
            )
        sockets = {instance.socket for instance in self.instances}
        self.check(
            f"{feature}: {clients} PUTs with one If-Match over both instances, "
            f"{rounds} rounds: one 200 and {clients - 1} 412 each, the winner stored",
            all(
                created == 201
                and statuses == [200] + [412] * (clients - 1)
                and upstreams == sockets
                and final == f"writer {winners[0]}"
                for created, statuses, upstreams, final, winners in outcomes
            ),
            f"{outcomes}",
        )

    def check_rate_limit(self):
        """One client's budget is spent across both instances, in the shared Redis."""
        client = self.addresses.take()
        within = [
            self.call("GET", "/v1/foo/", source=client) for _ in range(RATE_LIMIT)
        ]
        # Until both instances refused (each nginx worker takes turns, so a few
        # requests are enough).
        over = []
        sockets = {instance.socket for instance in self.instances}
        while len(over) < 6 and {answer.upstream for answer in over} != sockets:
            over.append(self.call("GET", "/v1/foo/", source=client))
        forged = self.call(
            "GET", "/v1/foo/", headers={"X-Forwarded-For": "203.0.113.9"}, source=client
        )
        other = self.call("GET", "/v1/foo/")
        self.check(
            f"rate limit {RATE_LIMIT}/minute: the first {RATE_LIMIT} requests of a "
            "client, over both instances, pass",
            all(answer.status == 200 for answer in within)
            and {answer.upstream for answer in within} == sockets,
            f"{[answer.status for answer in within]} {within[-1]!r}",
        )
        self.check(
            "the next ones get 429 problem+json with Retry-After from both instances",
            all(
                answer.status == 429
                and answer.headers.get("content-type") == "application/problem+json"
                and (answer.json() or {}).get("status") == 429
                and answer.headers.get("retry-after", "").isdigit()
                and int(answer.headers["retry-after"]) > 0
                for answer in over
            )
            and {answer.upstream for answer in over} == sockets,
            f"{over!r}",
        )
        self.check(
            "a forged X-Forwarded-For does not reset the count (TRUSTED_PROXIES=0)",
            forged.status == 429,
            f"{forged!r}",
        )
        self.check("another client is not limited", other.status == 200, f"{other!r}")
        keys = self.redis.keys("myapp:ratelimit*")
        self.check(
            "the counts live in the shared Redis, under REDIS_KEY_PREFIX",
            bool(keys),
            f"{keys}",
        )

    def retried_post(self, feature):
        """A keyed POST whose server stops mid-request, retried: one record.

        Instance A is frozen (SIGSTOP: its socket still accepts, nobody answers),
        so a POST nginx hands it gets no answer and the client gives up after
        RETRY_CLIENT_TIMEOUT, as one whose create timed out would. It retries with
        the same Idempotency-Key until an answer comes (from B); then A resumes
        (SIGCONT) and handles the copies it was sent, and a last repeat, straight
        to A, must replay B's response.
        """
        instance = self.instances[0]
        path = f"/v1/{feature}/"
        os.killpg(instance.process.pid, signal.SIGSTOP)
        attempts = []
        try:
            # Until nginx hands a first attempt to A (B answers the others).
            for _ in range(8):
                name = f"retried {feature} {secrets.token_hex(4)}"
                headers = {"Idempotency-Key": f"scale-{secrets.token_hex(8)}"}
                first = self.call(
                    "POST", path, {"name": name}, headers, timeout=RETRY_CLIENT_TIMEOUT
                )
                if not first.status:
                    break
                if feature == "foo":
                    self.foo_created += first.status == 201
            attempts.append(first)
            # No answer (A has it) or 409 (in flight): retry, as a client would.
            while len(attempts) < 12 and attempts[-1].status in (0, 409):
                answer = self.call(
                    "POST", path, {"name": name}, headers, timeout=RETRY_CLIENT_TIMEOUT
                )
                attempts.append(answer)
                if answer.status == 409:
                    time.sleep(int(answer.headers.get("retry-after", "1")))
        finally:
            os.killpg(instance.process.pid, signal.SIGCONT)
        instance.wait_ready()
        # The copies A was handed while frozen are handled once it runs again.
        time.sleep(1)
        direct = request(
            instance.http_port,
            "POST",
            path,
            {"name": name},
            {**headers, "Authorization": f"Bearer {self.token}"},
        )
        created = attempts[-1]
        stored = self.count_named(feature, name)
        if feature == "foo":
            self.foo_created += stored
        self.check(
            f"{feature}: a POST with an Idempotency-Key whose server stopped "
            f"mid-request, retried {len(attempts) - 1} times with the key, made "
            "exactly one record",
            not attempts[0].status
            and created.status == 201
            and created.upstream == self.instances[1].socket
            and direct.status == 201
            and direct.headers.get("idempotent-replayed") == "true"
            and direct.json() == created.json()
            and stored == 1,
            f"attempts {attempts}, replay from A {direct!r}, {stored} stored",
        )

    def count_named(self, feature, name):
        """How many records of ``feature`` are called ``name``, in the stores."""
        if feature == "foo":
            page = self.call(
                "GET", f"/v1/foo/?{urllib.parse.urlencode({'name': name})}"
            )
            return (page.json() or {}).get("total")
        records = [
            json.loads(value)
            for key in self.redis.scan_iter("myapp:bar:*")
            if not key.endswith((b":index", b":seq"))
            for value in [self.redis.get(key)]
            if value is not None
        ]
        return sum(record.get("name") == name for record in records)

    def reload_nginx(self, down=()):
        """Mark ``down`` in the upstream and reload; return once every old nginx
        worker has exited, i.e. has finished the requests it had passed on."""
        master = self.processes.running["nginx"].pid
        old = child_processes(master)
        if not self.write_site(down):
            raise RuntimeError("nginx -t refused the new site")
        os.kill(master, signal.SIGHUP)
        wait_until(
            lambda: not old & child_processes(master) and child_processes(master),
            REQUEST_TIMEOUT + 5,
            "nginx reloaded and its old workers gone",
        )

    def restart_under_load(self, foo_path, bar_path):
        """Restart A while requests flow through nginx, as a rolling deploy does:
        take A out of nginx, stop it as systemd does (SIGTERM), start a new master,
        wait for its /ready, put it back."""
        instance = self.instances[0]
        mix = [
            ("POST", "/v1/foo/", {"name": "load"}, 201),
            ("GET", foo_path, None, 200),
            ("POST", "/v1/bar/", {"name": "load"}, 201),
            ("GET", bar_path, None, 200),
            ("GET", "/v1/foo/?limit=5", None, 200),
            ("PUT", bar_path, {"name": "load"}, 200),
        ]
        # Clients from many addresses, each well within the rate limit.
        sources = [self.addresses.take() for _ in range(LOAD_MAX_REQUESTS // 10 + 1)]
        restart = {}
        results = []
        began = time.monotonic()

        def restart_a():
            time.sleep(2)
            old = instance.process
            restart["drain"] = time.monotonic() - began
            self.reload_nginx(down=[instance])
            restart["drained"] = time.monotonic() - began
            self.processes.stop(f"uwsgi-{instance.name}")
            restart["stopped"] = time.monotonic() - began
            instance.start(self.processes, self.environment())
            instance.wait_ready()
            restart["ready"] = time.monotonic() - began
            self.reload_nginx()
            restart["back"] = time.monotonic() - began
            restart["pids"] = (old.pid, old.returncode, instance.process.pid)

        def one(index):
            delay = began + index / LOAD_RATE - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            method, path, body, expected = mix[index % len(mix)]
            sent = time.monotonic() - began
            answer = self.call(method, path, body, source=sources[index // 10])
            results.append((index, sent, method, path, expected, answer))

        def keep_going(index):
            if index >= LOAD_MAX_REQUESTS:
                return False
            if index < LOAD_MIN_REQUESTS or "back" not in restart:
                return "error" not in restart or index < LOAD_MIN_REQUESTS
            return index / LOAD_RATE < restart["back"] + LOAD_AFTER_RESTART

        restarter = threading.Thread(
            target=self._guarded(restart_a, restart), daemon=True
        )
        restarter.start()
        with concurrent.futures.ThreadPoolExecutor(LOAD_CLIENTS) as pool:
            index = 0
            pending = set()
            while keep_going(index):
                if len(pending) >= LOAD_CLIENTS * 2:
                    _, pending = concurrent.futures.wait(
                        pending, return_when=concurrent.futures.FIRST_COMPLETED
                    )
                    continue
                pending.add(pool.submit(one, index))
                index += 1
            concurrent.futures.wait(pending)
        restarter.join(120)
        self.report_restart(instance, restart, results, time.monotonic() - began)

    def report_restart(self, instance, restart, results, duration):
        self.foo_created += sum(
            1
            for _, _, method, path, _, answer in results
            if (method, path) == ("POST", "/v1/foo/") and answer.status == 201
        )
        failures = [
            (index, method, path, answer)
            for index, _, method, path, expected, answer in results
            if answer.status != expected
        ]
        answered_by = {}
        for *_, answer in results:
            name = self.name_of(answer.upstream)
            answered_by[name] = answered_by.get(name, 0) + 1
        timeline = ", ".join(
            f"{step} {restart[step]:.1f} s"
            for step in ("drain", "drained", "stopped", "ready", "back")
            if step in restart
        )
        print(
            f"      {len(results)} requests in {duration:.1f} s, answered by "
            f"{answered_by}, {sum(answer.retried for *_, answer in results)} "
            "retried by nginx, slowest "
            f"{max((answer.seconds for *_, answer in results), default=0):.2f} s; "
            f"A: {timeline}",
            flush=True,
        )
        sent = [when for _, when, *_ in results]
        self.check(
            "during the load A was taken out of nginx, stopped (SIGTERM), started "
            "as a new master and put back",
            "error" not in restart
            and "back" in restart
            and restart["pids"][1] is not None
            and restart["pids"][0] != restart["pids"][2]
            and min(sent) < restart["drain"]
            and max(sent) > restart["back"],
            f"{restart}",
        )
        other = self.instances[1].socket
        out = [
            answer
            for _, when, *_, answer in results
            if restart.get("drained", duration) < when < restart.get("ready", 0)
        ]
        strays = [answer for answer in out if answer.upstream != other]
        self.check(
            f"while A was out, all {len(out)} requests went to B",
            out and not strays,
            f"{strays[:5]}",
        )
        self.check(
            f"{len(results)} requests through nginx during the restart: "
            f"{len(failures)} failed",
            len(results) >= LOAD_MIN_REQUESTS and not failures,
            f"{failures[:10]}",
        )
        back = [
            answer
            for _, when, *_, answer in results
            if when > restart.get("back", duration)
        ]
        self.check(
            "once back in nginx, A answers again",
            any(answer.upstream == instance.socket for answer in back),
            f"{len(back)} requests after A was put back",
        )

    @staticmethod
    def _guarded(function, state):
        def run():
            try:
                function()
            except Exception as error:
                state["error"] = f"{type(error).__name__}: {error}"
                log(f"restart failed: {state['error']}")

        return run

    def check_nothing_lost(self):
        """Every 201 made one foo: no write lost, none done twice by a retry."""
        listed = self.call("GET", "/v1/foo/?limit=1")
        total = (listed.json() or {}).get("total")
        self.check(
            f"PostgreSQL holds exactly the {self.foo_created} foos created (201)",
            total == self.foo_created,
            f"total {total}",
        )

    def run(self):
        ensure_nginx()
        self.start_stores()
        self.start_servers()
        self.start_nginx()
        self.check_balancing()
        foo_path = self.check_shared_state("foo")
        bar_path = self.check_shared_state("bar")
        self.race("foo")
        self.race("bar")
        self.check_rate_limit()
        self.retried_post("foo")
        self.retried_post("bar")
        self.restart_under_load(foo_path, bar_path)
        self.check_nothing_lost()
        self.check_metrics_stay_private()

    def check_metrics_stay_private(self):
        """/metrics: a 404 on the public site, token or not; on nginx's loopback
        server, 401 without the metrics token and every request counted with it."""
        token = {"Authorization": f"Bearer {self.metrics_token}"}
        public = request(self.nginx_port, "GET", "/metrics", headers=token)
        self.check(
            "the public site answers /metrics 404 problem+json, even with the token",
            public.status == 404
            and public.headers.get("content-type") == "application/problem+json"
            and b"http_requests_total" not in public.body,
            f"{public}",
        )
        anonymous = request(self.ready_port, "GET", "/metrics")
        scraped = request(self.ready_port, "GET", "/metrics", headers=token)
        self.check(
            "the loopback server serves /metrics with the metrics token only",
            anonymous.status == 401
            and scraped.status == 200
            and b"http_requests_total{" in scraped.body,
            f"{anonymous} {scraped}",
        )

    def stop(self):
        self.processes.stop_all()
        subprocess.run(
            [str(REPO / "scripts" / "postgres.sh"), "stop", str(self.work / "pg")],
            timeout=60,
        )


def main():
    started = time.monotonic()
    for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGALRM):
        signal.signal(number, _stop_on_signal)
    signal.alarm(RUN_TIMEOUT)
    work = Path(tempfile.mkdtemp(prefix="myapp-scale."))
    work.chmod(0o755)
    log(f"work folder {work}")
    run = Run(work)
    error = None
    try:
        run.run()
    except Exception as exception:
        error = f"{type(exception).__name__}: {exception}"
    finally:
        signal.alarm(0)
        for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(number, signal.SIG_IGN)
        run.stop()
    if error:
        run.check("the run went to its end", False, error)
    failed = run.failed or error
    if failed:
        for name in ("a/uwsgi.log", "b/uwsgi.log", "nginx/error.log"):
            path = work / name
            if path.exists():
                lines = [
                    line
                    for line in path.read_text(errors="replace").splitlines()
                    if '"logger": "myapp.access"' not in line
                ][-30:]
                print(f"--- last lines of {name} ---", file=sys.stderr)
                print("\n".join(lines), file=sys.stderr)
    if os.environ.get("SCALE_KEEP"):
        log(f"work folder kept: {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    outcome = "FAIL" if failed else "PASS"
    print(f"scale test: {outcome} in {time.monotonic() - started:.0f} s", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
