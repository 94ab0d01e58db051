"""A CPU-time profile of a uWSGI worker: where a request's CPU goes, in µs.

py-spy samples by the wall clock; on a shared, loaded machine a worker waits
for a CPU most of the time, and those waits land on whatever ran last (a socket
send, mostly), so its shares are not CPU. This module samples on the worker's
own CPU time instead (SIGPROF, ``setitimer(ITIMER_PROF)``): each sample stands
for the same CPU time, so a frame's share of the samples times the CPU time per
request is its cost in µs. Serve it in place of the app:

    PROFILE_TARGET=wsgi:app PROFILE_DIR=/tmp/prof venv/bin/uwsgi --ini myapp.ini \\
        --http-socket 127.0.0.1:8000 --pythonpath bench --module cpu_profile:app

(with the settings `bench/run.py --serve` prints), load it with wrk, and read
``PROFILE_DIR/<worker pid>.txt``: collapsed stacks (``frame;frame;... count``,
what flamegraph.pl and speedscope read), rewritten after a request at most
every second. The kernel delivers SIGPROF once per scheduler tick of CPU time
at most, and a signal arriving in uWSGI's C code is taken at the next Python
line, so the time outside Python counts at the app's entry.
"""

import collections
import importlib
import os
import signal
import time

module, _, attribute = os.environ["PROFILE_TARGET"].partition(":")
target = getattr(importlib.import_module(module), attribute)
stacks = collections.Counter()
written = [time.monotonic()]
PATH = os.path.join(os.environ["PROFILE_DIR"], f"{os.getpid()}.txt")
INTERVAL = 0.0005


def sample(signal_number, frame):
    names = []
    while frame is not None:
        code = frame.f_code
        names.append(f"{code.co_qualname} ({code.co_filename}:{frame.f_lineno})")
        frame = frame.f_back
    stacks[";".join(reversed(names))] += 1


def write():
    with open(PATH + ".new", "w") as output:
        for stack, count in stacks.items():
            output.write(f"{stack} {count}\n")
    os.replace(PATH + ".new", PATH)


def app(environ, start_response):
    try:
        return target(environ, start_response)
    finally:
        now = time.monotonic()
        if now - written[0] > 1:
            written[0] = now
            write()


signal.signal(signal.SIGPROF, sample)
signal.setitimer(signal.ITIMER_PROF, INTERVAL, INTERVAL)
