"""Metric values written in place in this process's prometheus_client files.

The library's multiprocess value, on every write, takes its lock, asks for the
process id (to notice a fork), looks the value's position up in the file's dict
and packs the value and a timestamp there: several calls and lookups for what is
one addition to a double. Here a value finds its position once, as an index into
the file's map seen as doubles (entries are 8-byte aligned, the value first); a
fork is handled as it happens (an at-fork hook reopens the files under the
child's id, as the library does when it notices one); and a write is the lock and
``doubles[index] += amount``. A histogram's observation, the hottest write, is
one locked section that finds its bucket by bisection and adds to the bucket and
the sum (``observer``).

The files are the library's own (MmapedDict, ``<kind>_<pid>.db``), read by its
MultiProcessCollector and tidied by metrics_files.py as before. MmapedDict's map
(``_m``) and positions (``_positions``), and a metric's values (``_value``,
``_sum``, ``_buckets``, ``_upper_bounds``) are not public: prometheus_client is
pinned, and tests/test_metrics*.py check exact counts through the library's reader.
"""

from __future__ import annotations

import mmap
import os
import threading
from bisect import bisect_left
from collections.abc import Callable
from typing import Any, Protocol, cast

from prometheus_client.mmap_dict import MmapedDict, mmap_key

# One lock for every value, as the library has: a write is a few bytecodes. The
# writes of every request take it by acquire() and release(): a ``with`` block
# costs twice as much (it makes two bound methods and an arguments tuple), 1,900
# machine instructions against 800, on a path where every write counts (issue 17).
_lock = threading.Lock()
_files: dict[str, MmapedDict] = {}
_values: list[InPlaceValue] = []
# Each file's map and the doubles view of it the values write through. A file
# that grows is mapped anew (MmapedDict._init_value): its values are re-pointed.
_views: dict[str, tuple[mmap.mmap, memoryview[float]]] = {}


def _file(kind: str) -> MmapedDict:
    """This process's file for ``kind`` (e.g. ``histogram``, ``gauge_livemax``)."""
    file = _files.get(kind)
    if file is None:
        directory = os.environ["PROMETHEUS_MULTIPROC_DIR"]
        path = os.path.join(directory, f"{kind}_{os.getpid()}.db")
        file = _files[kind] = MmapedDict(path)
    return file


class InPlaceValue:
    """prometheus_client's value interface (``values.ValueClass``), in place."""

    _multiprocess = True

    def __init__(
        self,
        typ: str,
        metric_name: str,
        name: str,
        labelnames: list[str],
        labelvalues: list[str],
        help_text: str,
        multiprocess_mode: str = "",
        **kwargs: object,
    ) -> None:
        self._kind = f"{typ}_{multiprocess_mode}" if typ == "gauge" else typ
        self._key = mmap_key(metric_name, name, labelnames, labelvalues, help_text)
        with _lock:
            self._open()
            _values.append(self)

    def _open(self) -> None:
        """Find (or add) this value's entry in this process's file."""
        file = _file(self._kind)
        file.read_value(self._key)
        self._index = file._positions[self._key] // 8
        self._doubles = _doubles(self._kind, file)

    def inc(self, amount: float) -> None:
        _lock.acquire()
        try:
            self._doubles[self._index] += amount
        finally:
            _lock.release()

    def set(self, value: float, timestamp: float | None = None) -> None:
        with _lock:
            self._doubles[self._index] = value
            self._doubles[self._index + 1] = timestamp or 0.0

    def get(self) -> float:
        with _lock:
            return self._doubles[self._index]

    def set_exemplar(self, exemplar: object) -> None:
        """Exemplars are not kept in multiprocess mode (nor by the library)."""

    def get_exemplar(self) -> None:
        return None


def _doubles(kind: str, file: MmapedDict) -> memoryview[float]:
    """The doubles view of ``file``'s current map, its values re-pointed to it
    if the file has been mapped anew since."""
    made = _views.get(kind)
    if made is None or made[0] is not file._m:
        if made is not None:
            made[1].release()
        made = _views[kind] = (file._m, memoryview(file._m).cast("d"))
        for value in _values:
            if value._kind == kind:
                value._doubles = made[1]
    return made[1]


def observer(series: Any) -> Callable[[float], None]:
    """``series.observe`` of a labelled histogram series, as the library counts
    (the first bucket whose bound holds the amount, and the sum), in one locked
    section; the library's own where the values are not in place (no
    PROMETHEUS_MULTIPROC_DIR)."""
    total, buckets = series._sum, series._buckets
    if not isinstance(total, InPlaceValue):
        return series.observe
    bounds = series._upper_bounds

    def observe(amount: float) -> None:
        bucket = buckets[bisect_left(bounds, amount)]
        _lock.acquire()
        try:
            total._doubles[total._index] += amount
            bucket._doubles[bucket._index] += 1.0
        finally:
            _lock.release()

    return observe


class Addable(Protocol):
    """A counter's value: ours in place, or the library's in one process."""

    def inc(self, amount: float) -> None: ...


def value_of(counter: Any) -> Addable:
    """The value of a counter without labels, to add to without the library's
    checks of the amount on each call (ours are constants)."""
    return cast(Addable, counter._value)


def _reopen_in_child() -> None:
    """A forked child counts in files of its own, from zero, as the library's
    values do once they notice the new process id."""
    for _, view in _views.values():
        view.release()
    _views.clear()
    for file in _files.values():
        file.close()
    _files.clear()
    for value in _values:
        value._open()
    _lock.release()


# Held across the fork, so no write is half done in the child's copy of a file.
os.register_at_fork(
    before=_lock.acquire,
    after_in_parent=_lock.release,
    after_in_child=_reopen_in_child,
)
