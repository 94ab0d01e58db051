"""`flask scaffold` for real, in a copy of the project.

Generates an SQL and a Redis feature in the copy, then lints it, runs there the new
features' tests, the migration drift test, the spec checks and schemathesis on the
new specs, serves both features from a live server after `flask db upgrade`, and
follows the README's "Adding a field".

Runs once per `make test`, in the SQLite pass: in the PostgreSQL and MariaDB passes
the copy's suite would share the outer run's database (its migrations would drop the
outer tables), and nothing generated depends on the database (the migration has the
shape of 0001, which those passes run).
"""

import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from scripts.harness import free_port

ROOT = Path(__file__).resolve().parents[2]
# Unlikely to exist in any copy; the SQL one is as long as a name may be.
SQL_FEATURE = "probe_line_item_note"
REDIS_FEATURE = "probe_note"
TOKEN = "scaffold-probe-token"
IGNORED = shutil.ignore_patterns(
    ".git",
    "venv",
    ".venv",
    "__pycache__",
    ".pytest_cache",
    ".hypothesis",
    ".test-artifacts",
)

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("TEST_DATABASE_URL")),
    reason="runs once per `make test`, in the SQLite pass (see the module docstring)",
)


def copy_project(target):
    """The project's files (tracked or not ignored), else the tree minus caches."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            timeout=60,
        )
    except FileNotFoundError:  # no git on this machine
        listed = None
    if listed is None or listed.returncode != 0:
        shutil.copytree(ROOT, target, ignore=IGNORED)
        shutil.rmtree(target / "instance", ignore_errors=True)
        return
    for name in listed.stdout.decode().split("\0"):
        source = ROOT / name
        if name and source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


class Project:
    """A copy of the project, run with this venv's Python and none of our settings.

    ``serving`` is the environment of a production server: the copy's own SQLite
    file, a Redis database of the test run's server, a token for writes.
    """

    def __init__(self, root, redis_url):
        self.root = root
        self.redis_url = redis_url
        self.env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("MYAPP_", "FLASK_", "PYTEST_"))
            and key not in ("PYTHONPATH", "TEST_DATABASE_URL")
        }
        self.env.update(MYAPP_ENV="development", PYTHONDONTWRITEBYTECODE="1")
        self.serving = dict(
            self.env,
            MYAPP_ENV="production",
            MYAPP_API_TOKENS=TOKEN,
            MYAPP_REDIS_URL=redis_url,
            MYAPP_REDIS_KEY_PREFIX="scaffold-probe:",
        )

    def run(self, *args, timeout=120, env=None):
        return subprocess.run(
            [sys.executable, *args],
            cwd=self.root,
            env=env or self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def check(self, *args, timeout=120, env=None):
        result = self.run(*args, timeout=timeout, env=env)
        output = result.stdout[-3000:] + result.stderr[-3000:]
        assert result.returncode == 0, f"{' '.join(args)} failed:\n{output}"
        return result

    def clone(self, target):
        shutil.copytree(self.root, target, ignore=shutil.ignore_patterns("instance"))
        return Project(target, self.redis_url)

    def digest(self):
        return {
            path: path.read_bytes()
            for path in self.root.rglob("*")
            if path.is_file() and "__pycache__" not in path.parts
        }


@pytest.fixture(scope="module")
def project(tmp_path_factory, redis_server):
    """A copy with both features generated; its Redis is a DB of the test server."""
    root = tmp_path_factory.mktemp("project")
    copy_project(root)
    redis_url = redis_server.url.rsplit("/", 1)[0] + "/9"
    copy = Project(root, redis_url)
    copy.check("-m", "flask", "--app", "myapp", "scaffold", SQL_FEATURE, "--store=sql")
    copy.check(
        "-m", "flask", "--app", "myapp", "scaffold", REDIS_FEATURE, "--store=redis"
    )
    yield copy
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    client.close()


def test_both_features_are_written_and_registered(project):
    for name in (SQL_FEATURE, REDIS_FEATURE):
        files = sorted(path.name for path in (project.root / "myapp" / name).iterdir())
        assert files == ["__init__.py", "endpoints.py", "models.py", f"test_{name}.py"]
    factory = (project.root / "myapp" / "__init__.py").read_text()
    for name in (SQL_FEATURE, REDIS_FEATURE):
        assert factory.count(f"{name}_blueprint") == 2
    versions = project.root / "migrations" / "versions"
    created = [path.name for path in versions.glob(f"*_create_{SQL_FEATURE}.py")]
    assert len(created) == 1 and re.fullmatch(r"[0-9]{4}_create_\w+\.py", created[0])


def test_an_existing_feature_is_refused_and_nothing_changes(project):
    before = project.digest()
    result = project.run(
        "-m", "flask", "--app", "myapp", "scaffold", REDIS_FEATURE, "--store=sql"
    )
    assert result.returncode == 2
    assert f"myapp/{REDIS_FEATURE} already exists" in result.stderr
    assert project.digest() == before


def test_the_copy_is_lint_clean(project):
    project.check("-m", "black", "--check", ".")
    project.check("-m", "flake8")


def test_the_new_features_pass_their_tests_spec_checks_and_schemathesis(project):
    """Their own tests, the drift test, the spec checks, the generated client's
    round trip and a short schemathesis run on both documents.

    Schemathesis runs with fewer examples than the main suite gives foo and bar: here
    it checks that the new specs have the shapes of theirs.
    """
    fuzz = "tests/test_contract_fuzz.py::test_spec_holds_under_fuzzing"
    result = project.check(
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        f"myapp/{SQL_FEATURE}",
        f"myapp/{REDIS_FEATURE}",
        "myapp/foo/test_foo.py::test_models_and_migrations_agree",
        "tests/test_specs.py",
        "tests/test_generated_client.py",
        *(
            f"{fuzz}[{feature}-{document}]"
            for feature in (SQL_FEATURE, REDIS_FEATURE)
            for document in ("swagger.json", "openapi.json")
        ),
        timeout=600,
        env=dict(project.env, MYAPP_FUZZ_EXAMPLES="10"),
    )
    summary = result.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"[0-9]+ passed in .*", summary), summary


class LiveServer:
    """`flask run` in the copy, on a free loopback port."""

    def __init__(self, project, log):
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "myapp", "run"]
            + ["--host", "127.0.0.1", "--port", str(self.port)]
            + ["--no-reload", "--no-debugger"],
            cwd=project.root,
            env=project.serving,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def request(self, method, path, body=None, headers=None):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        headers = dict(headers or {})
        if body is not None:
            body = json.dumps(body).encode()
            headers.setdefault("Content-Type", "application/json")
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, response.headers, response.read()
        finally:
            connection.close()

    def wait_until_up(self, seconds=30):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            assert self.process.poll() is None, "the server exited"
            try:
                if self.request("GET", "/health")[0] == 200:
                    return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"the server did not answer within {seconds}s")

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


def check_feature(server, name):
    """One round of the contract over HTTP: create, read, patch, list, delete."""
    collection = f"/v1/{name}/"
    write = {"Authorization": f"Bearer {TOKEN}"}
    status, headers, _ = server.request("POST", collection, {"name": "x"})
    assert (status, headers["Content-Type"]) == (401, "application/problem+json")

    status, headers, body = server.request("POST", collection, {"name": "live"}, write)
    assert status == 201, body
    created = json.loads(body)
    assert created["name"] == "live"
    location, etag = headers["Location"], headers["ETag"]
    assert location == f"{collection}{created['id']}"

    status, headers, body = server.request("GET", location)
    assert (status, headers["ETag"], json.loads(body)) == (200, etag, created)
    status, _, body = server.request("GET", location, headers={"If-None-Match": etag})
    assert (status, body) == (304, b"")

    patch = {**write, "Content-Type": "application/merge-patch+json"}
    status, headers, body = server.request("PATCH", location, {"name": "new"}, patch)
    assert (status, json.loads(body)["name"]) == (200, "new")
    assert headers["ETag"] != etag

    status, headers, body = server.request("POST", collection, {"id": 1}, write)
    assert (status, headers["Content-Type"]) == (400, "application/problem+json")
    assert sorted(e["path"] for e in json.loads(body)["errors"]) == ["/id", "/name"]

    status, _, body = server.request("GET", collection)
    assert status == 200
    assert [item["name"] for item in json.loads(body)["items"]] == ["new"]

    assert server.request("DELETE", location, headers=write)[0] == 204
    assert server.request("GET", location)[0] == 404

    status, _, body = server.request("GET", f"{collection}swagger.json")
    assert status == 200
    assert f"/{name}/{{id}}" in json.loads(body)["paths"]


def test_a_live_server_serves_both_features_after_db_upgrade(project, tmp_path):
    project.check("-m", "flask", "--app", "myapp", "db", "upgrade", env=project.serving)
    log_path = tmp_path / "server.log"
    with open(log_path, "w") as log:
        server = LiveServer(project, log)
        try:
            server.wait_until_up()
            for name in (SQL_FEATURE, REDIS_FEATURE):
                check_feature(server, name)
            status, _, body = server.request("GET", "/docs")
            assert status == 200
            for name in ("foo", "bar", SQL_FEATURE, REDIS_FEATURE):
                assert f'"/v1/{name}/swagger.json"'.encode() in body
        except AssertionError as error:
            raise AssertionError(f"{error}\nserver log:\n{log_path.read_text()}")
        finally:
            server.stop()


NOTE_TESTS = """

def test_note_is_optional_kept_and_removed_by_a_null_patch(client):
    created = client.post(COLLECTION, json={"name": "a", "note": "n"}).get_json()
    assert created["note"] == "n"
    assert "note" not in client.post(COLLECTION, json={"name": "b"}).get_json()
    location = f"{COLLECTION}{created['id']}"
    patched = client.patch(location, json={"note": None})
    assert patched.status_code == 200
    assert "note" not in patched.get_json()
    assert client.get(location).get_json() == patched.get_json()
"""


def add_note(models):
    """The README's "Adding a field" for an optional ``note``: one property."""
    text = models.read_text()
    anchor = '        "name": {"type": "string", "minLength": 1, "maxLength": 120},\n'
    assert text.count(anchor) == 1, text
    models.write_text(
        text.replace(
            anchor, anchor + '        "note": {"type": "string", "maxLength": 200},\n'
        )
    )


def test_a_field_added_as_the_readme_says_keeps_the_contract(project, tmp_path):
    copy = project.clone(tmp_path / "project")
    feature = copy.root / "myapp" / SQL_FEATURE
    add_note(feature / "models.py")
    with open(feature / f"test_{SQL_FEATURE}.py", "a") as tests:
        tests.write(NOTE_TESTS)
    scratch = dict(
        copy.env, MYAPP_SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'scratch.db'}"
    )
    copy.check("-m", "flask", "--app", "myapp", "db", "upgrade", env=scratch)
    copy.check(
        "-m", "flask", "--app", "myapp", "db", "migrate", "-m", "add note", env=scratch
    )
    copy.check("-m", "black", "--check", "migrations", f"myapp/{SQL_FEATURE}")
    result = copy.check(
        "-m",
        "pytest",
        "-q",
        "-rA",
        "-p",
        "no:cacheprovider",
        f"myapp/{SQL_FEATURE}",
        "myapp/foo/test_foo.py::test_models_and_migrations_agree",
        timeout=300,
    )
    passed = f"PASSED myapp/{SQL_FEATURE}/test_{SQL_FEATURE}.py::test_note_is_optional"
    assert passed in result.stdout
