"""One fresh Prometheus metrics directory per uWSGI server, made before the fork.

uWSGI's master imports this file (``shared-import`` in myapp.ini) before it forks
the workers, and nothing else of the service imports it. prometheus_client's
multiprocess mode keeps each worker's values in files under
``PROMETHEUS_MULTIPROC_DIR``, and /metrics sums them; the directory must belong
to one server and start empty, or a restart would add the previous run's counts
to the new one. The master sets the variable here, so every worker, however
often recycled, inherits the same directory.

- ``PROMETHEUS_MULTIPROC_DIR`` set by the operator: that directory, emptied of
  metrics files (created if missing);
- otherwise a new directory ``myapp-metrics-<master pid>-*`` in shared memory
  (``/dev/shm``, a tmpfs; the unit's private one in production), or in the
  temporary folder where there is none. The master cannot run Python at its
  exit, so each start removes those left by masters that are gone.

Workers write their values into files they map. On a disk filesystem such a
write waits, now and then, while the kernel writes the page back: measured, it
made the service's p99 on get_bar 6% longer than with the files in memory.

It must not import myapp: the master loads no app (lazy-apps), and importing
prometheus_client before the variable is set would fix its value class for good.
"""

import glob
import os
import re
import shutil
import tempfile

VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
PREFIX = "myapp-metrics-"
# Only ever a parent for mkdtemp's private directories (mode 0700, random names).
SHARED_MEMORY = "/dev/shm"  # nosec B108


def _alive(pid: int) -> bool:
    """As metrics_files._alive: the master loads this file alone, importing none."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process
    return True


def remove_abandoned(folder: str) -> None:
    """Remove the metrics directories of masters that no longer run."""
    for path in glob.glob(os.path.join(folder, PREFIX + "*")):
        match = re.fullmatch(re.escape(PREFIX) + r"(\d+)-.*", os.path.basename(path))
        if match and not _alive(int(match.group(1))):
            shutil.rmtree(path, ignore_errors=True)


def _memory_folder() -> str:
    """Shared memory if the system has it and lets us write, else the temporary
    folder."""
    if os.path.isdir(SHARED_MEMORY) and os.access(SHARED_MEMORY, os.W_OK | os.X_OK):
        return SHARED_MEMORY
    return tempfile.gettempdir()


def prepare() -> str:
    """Give this server an empty metrics directory; returns its path."""
    configured = os.environ.get(VARIABLE, "").strip()
    if configured:
        os.makedirs(configured, mode=0o700, exist_ok=True)
        for stale in glob.glob(os.path.join(configured, "*.db")):
            os.remove(stale)
        return configured
    folder = _memory_folder()
    remove_abandoned(folder)
    path = tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=folder)
    os.environ[VARIABLE] = path
    return path


prepare()
