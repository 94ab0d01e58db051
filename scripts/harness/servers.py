"""Private servers: uWSGI (the production myapp.ini), nginx (Debian's, with
deploy/nginx-myapp.conf as its site) and Prometheus (deploy/prometheus.yml)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Callable, Mapping, Sequence

from .processes import Processes, child_processes, free_port, http_status, wait_until

ROOT = Path(__file__).resolve().parent.parent.parent
VENV_BIN = Path(sys.executable).parent


def find_binary(name: str, *folders: str) -> str | None:
    """``name`` on PATH or in one of ``folders`` (sbin is not on every PATH)."""
    for candidate in [shutil.which(name)] + [f"{folder}/{name}" for folder in folders]:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


class Uwsgi:
    """A uWSGI master started with ``checkout``'s myapp.ini, as the systemd unit
    starts it; with ``http_port``, an HTTP socket of its own too."""

    def __init__(
        self,
        processes: Processes,
        name: str,
        environment: Mapping[str, str],
        log: Path,
        checkout: Path = ROOT,
        http_port: int | None = None,
        extra: Sequence[str] = (),
    ) -> None:
        self.processes = processes
        self.name = name
        self.environment = dict(environment)
        self.log = log
        self.checkout = checkout
        self.http_port = http_port
        self.extra = list(extra)
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        argv = [str(VENV_BIN / "uwsgi"), "--ini", str(self.checkout / "myapp.ini")]
        if self.http_port:
            argv += ["--http-socket", f"127.0.0.1:{self.http_port}"]
        self.process = self.processes.start(
            self.name,
            argv + self.extra,
            self.log,
            env=self.environment,
            cwd=self.checkout,
        )

    def wait_ready(
        self, path: str = "/ready", timeout: float = 60, check: Callable | None = None
    ) -> None:
        """Until GET ``path`` on the HTTP socket is a 200 (or ``check`` is true)."""
        port = self.http_port

        def answers() -> bool:
            if port is None:
                raise ValueError(f"uWSGI {self.name} has no HTTP socket: give a check")
            return http_status(port, path) == 200

        ready = check or answers
        wait_until(ready, f"uWSGI {self.name} (see {self.log})", timeout, self.process)

    def stop(self) -> None:
        self.processes.stop(self.name)


def start_uwsgi(
    processes: Processes,
    name: str,
    environment: Mapping[str, str],
    log: Path,
    ready_path: str | None = "/ready",
    **options,
) -> Uwsgi:
    """A started Uwsgi (options as Uwsgi's); with an ``http_port`` and a
    ``ready_path``, returned once that path answers 200."""
    server = Uwsgi(processes, name, environment, log, **options)
    server.start()
    if server.http_port and ready_path:
        server.wait_ready(ready_path)
    return server


# --- nginx ----------------------------------------------------------------------


def find_nginx() -> str:
    found = find_binary("nginx", "/usr/sbin")
    if found is None:
        raise RuntimeError("nginx is not installed (apt-get install nginx)")
    return found


def services_stay_down() -> bool:
    """True where Debian's policy-rc.d keeps package installs from starting
    services (containers, CI machines)."""
    policy = Path("/usr/sbin/policy-rc.d")
    if not os.access(policy, os.X_OK):
        return False
    started = subprocess.run([policy, "nginx", "start"], capture_output=True)
    return started.returncode == 101


def ensure_nginx() -> str:
    """Debian's nginx, installed when missing, but only where the install cannot
    start a system-wide nginx on port 80: the tests run private ones."""
    try:
        return find_nginx()
    except RuntimeError:
        if not services_stay_down():
            raise RuntimeError(
                "nginx is not installed. Install it (apt-get install nginx) and retry;"
                " the tests run a private nginx and never use the system's."
            ) from None
    subprocess.run(
        [str(ROOT / "scripts" / "system-packages.sh"), "nginx=nginx"],
        check=True,
        timeout=600,
    )
    return find_nginx()


def uwsgi_params() -> Path:
    """The uwsgi_params file nginx's package ships (deploy's site includes it)."""
    output = subprocess.run(
        [find_nginx(), "-V"], capture_output=True, text=True, check=True
    ).stderr
    match = re.search(r"--conf-path=(\S+)", output)
    folder = Path(match.group(1)).parent if match else Path("/etc/nginx")
    return folder / "uwsgi_params"


def deploy_site(
    sockets: Sequence[str], port: int, ready_port: int, down: Sequence[str] = ()
) -> str:
    """deploy/nginx-myapp.conf, with its upstream (the uWSGI ``sockets``, those in
    ``down`` marked down) and ports moved to this run, and an ``X-Upstream``
    header naming the socket that answered. Fails loudly if that file no longer
    has the expected shape."""
    text = (ROOT / "deploy" / "nginx-myapp.conf").read_text()
    servers = "".join(
        f"    server {socket}{' down' if socket in down else ''};\n"
        for socket in sockets
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
                " update scripts/harness/servers.py to match it"
            )
    return text


class Nginx:
    """A private nginx in ``folder``: its own prefix, pid, logs and temp folders,
    no daemon; the site in ``folder/site.conf``, the access log in
    ``folder/access.log`` with ``log_format``."""

    def __init__(
        self,
        processes: Processes,
        folder: Path,
        log_format: str,
        workers: int = 2,
        error_level: str = "notice",
        name: str = "nginx",
    ) -> None:
        self.processes = processes
        self.folder = folder
        self.name = name
        conf = folder / "nginx.conf"
        self.command = [ensure_nginx(), "-p", str(folder), "-c", str(conf)]
        folder.mkdir(exist_ok=True)
        for kind in ("body", "proxy", "fastcgi", "uwsgi"):
            (folder / kind).mkdir(exist_ok=True)
        shutil.copy(uwsgi_params(), folder / "uwsgi_params")
        user = "user nobody nogroup;\n" if os.geteuid() == 0 else ""
        conf.write_text(f"""{user}daemon off;
worker_processes {workers};
pid {folder}/nginx.pid;
error_log {folder}/error.log {error_level};
events {{
    worker_connections 512;
}}
http {{
    log_format private '{log_format}';
    access_log {folder}/access.log private;
    client_body_temp_path {folder}/body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/body;
    include site.conf;
}}
""")
        self.process: subprocess.Popen | None = None

    def write_site(self, site: str) -> bool:
        """Write the site; True when ``nginx -t`` accepts it (else it says why)."""
        (self.folder / "site.conf").write_text(site)
        test = subprocess.run(self.command + ["-t"], capture_output=True, text=True)
        if test.returncode:
            print(test.stderr.strip(), file=sys.stderr, flush=True)
        return test.returncode == 0

    def start(self) -> None:
        self.process = self.processes.start(
            self.name, self.command, self.folder / "nginx.out"
        )

    def reload(self, site: str, timeout: float = 45) -> None:
        """Write ``site`` and reload; return once every old worker has exited,
        i.e. has finished the requests it had passed on."""
        if self.process is None:
            raise RuntimeError("nginx is not running")
        master = self.process.pid
        old = child_processes(master)
        if not self.write_site(site):
            raise RuntimeError("nginx -t refused the new site")
        os.kill(master, signal.SIGHUP)
        wait_until(
            lambda: not old & child_processes(master) and child_processes(master),
            "nginx reloaded and its old workers gone",
            timeout,
            self.process,
        )

    def stop(self) -> None:
        self.processes.stop(self.name)


def start_nginx(processes: Processes, folder: Path, site: str, **options) -> Nginx:
    """A started Nginx serving ``site`` (options as Nginx's); fails if nginx -t
    refuses the site."""
    server = Nginx(processes, folder, **options)
    if not server.write_site(site):
        raise RuntimeError(f"nginx -t refused the site in {folder}")
    server.start()
    return server


# --- Prometheus -----------------------------------------------------------------


class Prometheus:
    """Debian's prometheus on a free loopback port, its data in ``folder``."""

    def __init__(self, processes: Processes, folder: Path, config: Path) -> None:
        self.processes = processes
        self.folder = folder
        self.config = config
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> None:
        binary = find_binary("prometheus", "/usr/bin")
        if binary is None:
            raise RuntimeError("prometheus is not installed (apt-get install it)")
        argv = [binary, f"--config.file={self.config}"]
        argv += [f"--storage.tsdb.path={self.folder / 'data'}"]
        argv += [f"--web.listen-address=127.0.0.1:{self.port}"]
        argv += ["--storage.tsdb.retention.time=1h"]
        self.process = self.processes.start(
            "prometheus", argv, self.folder / "prometheus.log", cwd=self.folder
        )
        wait_until(
            lambda: http_status(self.port, "/-/ready") == 200,
            "prometheus",
            timeout,
            self.process,
        )

    def stop(self) -> None:
        self.processes.stop("prometheus")


def start_prometheus(processes: Processes, folder: Path, config: Path) -> Prometheus:
    server = Prometheus(processes, folder, config)
    server.start()
    return server
