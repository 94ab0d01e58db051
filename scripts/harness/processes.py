"""Processes a run starts: each in its own group, stopped by its PID, whatever
happens (an error, a signal, the run's time limit)."""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping


class Stop(Exception):
    """A signal or a time limit: the run ends, its processes are stopped."""


def stop_on_signals(*numbers: int) -> None:
    """Turn these signals (default: INT, TERM, HUP, ALRM) into Stop, so that the
    ``finally`` blocks and fixtures that stop processes run."""

    def raise_stop(number, frame):
        raise Stop(f"stopped by {signal.Signals(number).name}")

    for number in numbers or (
        signal.SIGINT,
        signal.SIGTERM,
        signal.SIGHUP,
        signal.SIGALRM,
    ):
        signal.signal(number, raise_stop)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def free_port() -> int:
    """A TCP port free on loopback now (the OS's choice)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(
    check: Callable[[], object],
    what: str,
    timeout: float = 60,
    process: subprocess.Popen | None = None,
    ignore: tuple[type[BaseException], ...] = (OSError,),
) -> None:
    """Poll ``check`` until it is true; fail when ``process`` exits first or after
    ``timeout`` seconds. Errors in ``ignore`` count as not yet."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except ignore:
            pass
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what}: the process exited ({process.returncode})")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not ready after {timeout} s")
        time.sleep(0.05)


def http_status(port: int, path: str, timeout: float = 5) -> int:
    """The status of a GET on loopback (OSError when nothing answers)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    finally:
        connection.close()


def child_processes(parent: int) -> set[int]:
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


class Processes:
    """What a run started, by name; each stopped by its PID and its group's."""

    def __init__(self) -> None:
        self.running: dict[str, subprocess.Popen] = {}

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop_all()

    def start(
        self,
        name: str,
        argv: Iterable[str | os.PathLike],
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> subprocess.Popen:
        """Start ``argv`` in a new session (its own process group), its output
        appended to ``log_path``."""
        if name in self.running:
            raise RuntimeError(f"{name} is running already")
        with open(log_path, "ab") as output:
            process = subprocess.Popen(
                [str(arg) for arg in argv],
                env=env,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.running[name] = process
        return process

    def signal(self, name: str, number: int) -> None:
        """Send ``number`` to the whole group of ``name`` (SIGSTOP, SIGCONT...)."""
        os.killpg(self.running[name].pid, number)

    def stop(self, name: str, timeout: float = 30) -> None:
        """SIGTERM (what systemd sends), a wait, then SIGKILL to what is left of
        the group (uWSGI's workers, nginx's)."""
        process = self.running.pop(name, None)
        if process is None:
            return
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGCONT)
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                log(f"{name} (PID {process.pid}) still runs after {timeout} s")
        self._kill_group(process)

    def kill(self, name: str) -> None:
        """SIGKILL at once, as a crash would."""
        process = self.running.pop(name, None)
        if process is not None:
            self._kill_group(process)

    @staticmethod
    def _kill_group(process: subprocess.Popen) -> None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(10)

    def stop_all(self) -> None:
        for name in reversed(list(self.running)):
            try:
                self.stop(name)
            except Exception as error:  # keep stopping the others
                log(f"could not stop {name}: {error}")


@contextlib.contextmanager
def work_folder(prefix: str, keep_variable: str) -> Iterator[Path]:
    """A fresh folder under /tmp, removed at the end unless ``keep_variable`` is
    set in the environment. Readable by all: servers run as "nobody" under root
    (PostgreSQL, nginx's workers) and pytest's own folders are not."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        if os.environ.get(keep_variable):
            log(f"kept {folder} ({keep_variable} is set)")
        else:
            shutil.rmtree(folder, ignore_errors=True)
