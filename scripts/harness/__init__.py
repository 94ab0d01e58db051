"""One harness for the private stores and servers of tests, the scale test and
the benchmarks: free ports, waiting, a process group stopped by PID, and a start
function per server returning an object with its URL or port and a ``stop()``."""

from .processes import (
    Processes,
    Stop,
    child_processes,
    free_port,
    http_status,
    log,
    stop_on_signals,
    wait_until,
    work_folder,
)
from .servers import (
    Nginx,
    Prometheus,
    Uwsgi,
    deploy_site,
    ensure_nginx,
    find_binary,
    start_nginx,
    start_prometheus,
    start_uwsgi,
)
from .stores import (
    Database,
    RedisServer,
    redis_binary,
    start_mariadb,
    start_postgres,
    start_redis,
)

__all__ = [
    "Database",
    "Nginx",
    "Processes",
    "Prometheus",
    "RedisServer",
    "Stop",
    "Uwsgi",
    "child_processes",
    "deploy_site",
    "ensure_nginx",
    "find_binary",
    "free_port",
    "http_status",
    "log",
    "redis_binary",
    "start_mariadb",
    "start_nginx",
    "start_postgres",
    "start_prometheus",
    "start_redis",
    "start_uwsgi",
    "stop_on_signals",
    "wait_until",
    "work_folder",
]
