"""Restarting instance A while a load runs through nginx, as a rolling deploy
does: take A out of nginx, stop it as systemd does (SIGTERM), start a new master,
wait for its /ready, put it back."""

import concurrent.futures
import threading
import time

from scripts.harness import log
from scripts.harness.client import location_path

# The load during the restart: requests per second, at least this many requests,
# and, once instance A is back, this many seconds more of it.
LOAD_RATE = 40
LOAD_MIN_REQUESTS = 300
LOAD_AFTER_RESTART = 3.0
LOAD_MAX_REQUESTS = 1500
LOAD_CLIENTS = 8


class Restart:
    """What the load saw: each request (index, when sent, method, path, expected
    status, answer) and the restart's steps, in seconds from the start."""

    minimum = LOAD_MIN_REQUESTS

    def __init__(self):
        self.steps = {}
        self.results = []
        self.duration = 0.0

    @property
    def sent(self):
        return [when for _, when, *_ in self.results]

    def between(self, first, last):
        """Answers to requests sent after step ``first`` and before ``last``
        (None: the end); a step that never came selects nothing."""
        after = self.steps.get(first, self.duration)
        before = float("inf") if last is None else self.steps.get(last, 0)
        return [answer for _, when, *_, answer in self.results if after < when < before]

    def failures(self):
        return [
            (index, method, path, answer)
            for index, _, method, path, expected, answer in self.results
            if answer.status != expected
        ]

    def foos_created(self):
        return sum(
            1
            for _, _, method, path, _, answer in self.results
            if (method, path) == ("POST", "/v1/foo/") and answer.status == 201
        )

    def summary(self, stack):
        answered_by = {}
        for *_, answer in self.results:
            name = stack.name_of(answer.upstream)
            answered_by[name] = answered_by.get(name, 0) + 1
        timeline = ", ".join(
            f"{step} {self.steps[step]:.1f} s"
            for step in ("drain", "drained", "stopped", "ready", "back")
            if step in self.steps
        )
        retried = sum(answer.retried for *_, answer in self.results)
        slowest = max((answer.seconds for *_, answer in self.results), default=0)
        return (
            f"{len(self.results)} requests in {self.duration:.1f} s, answered by "
            f"{answered_by}, {retried} retried by nginx, slowest {slowest:.2f} s; "
            f"A: {timeline}"
        )


def restart_under_load(stack):
    instance = stack.instances[0]
    foo_path, bar_path = (
        stack.paths.get(feature)
        or location_path(stack.create(feature, "load"), feature)
        for feature in ("foo", "bar")
    )
    mix = [
        ("POST", "/v1/foo/", {"name": "load"}, 201),
        ("GET", foo_path, None, 200),
        ("POST", "/v1/bar/", {"name": "load"}, 201),
        ("GET", bar_path, None, 200),
        ("GET", "/v1/foo/?limit=5", None, 200),
        ("PUT", bar_path, {"name": "load"}, 200),
    ]
    # Clients from many addresses, each well within the rate limit.
    sources = [stack.addresses.take() for _ in range(LOAD_MAX_REQUESTS // 10 + 1)]
    restart = Restart()
    steps = restart.steps
    began = time.monotonic()

    def restart_a():
        time.sleep(2)
        old = instance.process
        steps["drain"] = time.monotonic() - began
        stack.nginx.reload(stack.site(down=[instance]))
        steps["drained"] = time.monotonic() - began
        instance.stop()
        steps["stopped"] = time.monotonic() - began
        instance.start()
        instance.wait_ready()
        steps["ready"] = time.monotonic() - began
        stack.nginx.reload(stack.site())
        steps["back"] = time.monotonic() - began
        steps["pids"] = (old.pid, old.returncode, instance.process.pid)

    def guarded():
        try:
            restart_a()
        except Exception as error:
            steps["error"] = f"{type(error).__name__}: {error}"
            log(f"scale: restart failed: {steps['error']}")

    def one(index):
        delay = began + index / LOAD_RATE - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        method, path, body, expected = mix[index % len(mix)]
        sent = time.monotonic() - began
        answer = stack.call(method, path, body, source=sources[index // 10])
        restart.results.append((index, sent, method, path, expected, answer))

    def keep_going(index):
        if index >= LOAD_MAX_REQUESTS:
            return False
        if index < LOAD_MIN_REQUESTS or "back" not in steps:
            return "error" not in steps or index < LOAD_MIN_REQUESTS
        return index / LOAD_RATE < steps["back"] + LOAD_AFTER_RESTART

    restarter = threading.Thread(target=guarded, daemon=True)
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
    restart.duration = time.monotonic() - began
    log(f"scale: {restart.summary(stack)}")
    return restart
