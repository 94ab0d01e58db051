"""Where a server's metrics files live when the operator names no directory:
in memory (a tmpfs), so a worker's write to its mapped file never waits for the
disk; in the temporary folder where the system has no shared memory."""

import os
import subprocess
import sys
import tempfile

import pytest

from myapp.api import metrics_directory


def _filesystem(path):
    return subprocess.run(
        ["stat", "-f", "-c", "%T", path], capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.fixture
def unset(monkeypatch):
    monkeypatch.delenv(metrics_directory.VARIABLE, raising=False)


@pytest.mark.skipif(not os.path.isdir("/dev/shm"), reason="this system has no /dev/shm")
def test_a_server_without_a_configured_directory_keeps_its_files_in_memory(unset):
    path = metrics_directory.prepare()
    try:
        assert os.environ[metrics_directory.VARIABLE] == path
        assert os.path.dirname(path) == "/dev/shm"
        assert os.path.basename(path).startswith(f"myapp-metrics-{os.getpid()}-")
        assert _filesystem(path) == "tmpfs"
        assert os.listdir(path) == []
        assert oct(os.stat(path).st_mode & 0o777) == "0o700"
    finally:
        os.rmdir(path)


def test_without_shared_memory_the_temporary_folder(unset, monkeypatch, tmp_path):
    monkeypatch.setattr(metrics_directory, "SHARED_MEMORY", str(tmp_path / "none"))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    path = metrics_directory.prepare()
    assert os.path.dirname(path) == str(tmp_path)
    assert os.environ[metrics_directory.VARIABLE] == path


def test_directories_of_masters_gone_are_removed(unset, monkeypatch, tmp_path):
    monkeypatch.setattr(metrics_directory, "SHARED_MEMORY", str(tmp_path))
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    abandoned = tmp_path / f"myapp-metrics-{finished.pid}-x"
    alive = tmp_path / f"myapp-metrics-{os.getppid()}-y"
    for folder in (abandoned, alive):
        folder.mkdir()
        (folder / "counter_1.db").write_bytes(b"values")

    path = metrics_directory.prepare()

    assert not abandoned.exists()
    assert (alive / "counter_1.db").exists()
    assert os.path.dirname(path) == str(tmp_path)
