"""The dead workers' multiprocess files, tidied at each scrape (see metrics.py).

A worker that is gone leaves files behind: its live gauges are forgotten
(``mark_process_dead``), its counters and histograms folded into one archive file
per kind, so a scrape reads as few files after a month of recycling as after an
hour, and nothing is lost or counted twice.
"""

import glob
import os
import re

from prometheus_client import multiprocess
from prometheus_client.mmap_dict import MmapedDict, mmap_key

# Worker files: <kind>_<pid>.db, gauges <kind>_<mode>_<pid>.db (prometheus_client).
_LIVE_GAUGE_FILE = re.compile(r"gauge_live[a-z]+_(\d+)\.db")
_WORKER_FILE = re.compile(r"(counter|histogram)_(\d+)\.db")
# Where dead workers' counters and histograms are folded: <kind>_archive.db.
ARCHIVE = "archive"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, another user's
    return True


def _forget_dead_workers(directory: str) -> None:
    """mark_process_dead for every dead worker whose live-gauge files remain.

    A worker killed without running its exit hooks (harakiri, OOM, SIGKILL) would
    otherwise be counted in the in-flight gauge forever.
    """
    pids = set()
    for path in glob.glob(os.path.join(directory, "gauge_live*.db")):
        match = _LIVE_GAUGE_FILE.fullmatch(os.path.basename(path))
        if match:
            pids.add(int(match.group(1)))
    for pid in pids:
        if not _alive(pid):
            multiprocess.mark_process_dead(pid, directory)


def _fold_dead_workers(directory: str) -> None:
    """Fold dead workers' counter and histogram files into one archive per kind.

    The archive is written aside and renamed over the old one before the folded
    files go: a crash between the two would count those workers twice until the
    server restarts (which empties the directory), never lose them.
    """
    dead: dict[str, list[str]] = {"counter": [], "histogram": []}
    for path in glob.glob(os.path.join(directory, "*_*.db")):
        match = _WORKER_FILE.fullmatch(os.path.basename(path))
        if match and not _alive(int(match.group(2))):
            dead[match.group(1)].append(path)
    for kind, paths in dead.items():
        if not paths:
            continue
        archive = os.path.join(directory, f"{kind}_{ARCHIVE}.db")
        sources = paths + ([archive] if os.path.exists(archive) else [])
        merged = multiprocess.MultiProcessCollector.merge(sources, accumulate=False)
        written = os.path.join(directory, f"{kind}_{ARCHIVE}.new")
        if os.path.exists(written):
            os.remove(written)
        values = MmapedDict(written)
        try:
            for metric in merged:
                for sample in metric.samples:
                    labels = sample.labels
                    key = mmap_key(
                        metric.name,
                        sample.name,
                        list(labels),
                        list(labels.values()),
                        metric.documentation,
                    )
                    values.write_value(key, sample.value, 0.0)
        finally:
            values.close()
        os.replace(written, archive)
        for path in paths:
            os.remove(path)


def live_worker_files(directory: str) -> list[str]:
    """The counter and histogram files of single workers (after a tidy, the live
    ones'), histograms first."""
    found = []
    for path in glob.glob(os.path.join(directory, "*_*.db")):
        match = _WORKER_FILE.fullmatch(os.path.basename(path))
        if match:
            found.append((match.group(1) == "counter", path))
    return [path for _, path in sorted(found)]


def tidy(directory: str) -> None:
    """Forget and fold the workers that are gone; the caller holds the lock."""
    _forget_dead_workers(directory)
    _fold_dead_workers(directory)
