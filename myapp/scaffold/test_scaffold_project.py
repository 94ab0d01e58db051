"""`flask scaffold` for real, in a copy of the project.

Generates, in the copy, an SQL feature with a field of every type and a reference
to foo, a second SQL feature referring to the first, and a typed Redis feature;
then lints the copy, runs there the new features' tests (the whole contract,
derived from their declarations), the migration drift test, the spec checks and
schemathesis on the new specs, serves them from a live server after `flask db
upgrade` and checks typed fields, references and unique values over HTTP, and
follows the README's "Adding a field".

Runs once per `make test`, in the SQLite pass: in the PostgreSQL and MariaDB passes
the copy's suite would share the outer run's database (its migrations would drop the
outer tables), and nothing generated depends on the database (the migration has the
shape of 0001, which those passes run).
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from myapp_testing.scaffold_server import (
    REDIS_FEATURE,
    SHELF_FEATURE,
    SQL_FEATURE,
    TOKEN,
    LiveServer,
    check_typed_fields,
)

ROOT = Path(__file__).resolve().parents[2]
# Every type and modifier the command knows.
SQL_FIELDS = [
    "title:string:required:min=1:max=200",
    "code:string:unique:max=20",
    "pages:integer:min=1",
    "price:number",
    "published:boolean",
    "released_on:date",
    "printed_at:datetime",
    "genre:enum:values=novel|poetry",
    "tags:array:max=10",
    "author:ref:to=foo",
]
SHELF_FIELDS = ["label:string:required:max=40", f"item:ref:to={SQL_FEATURE}"]
REDIS_FIELDS = [
    "body:string:required:max=500",
    "stars:integer:min=0:max=5",
    "tags:array",
    "seen_at:datetime",
]
FEATURES = (SQL_FEATURE, SHELF_FEATURE, REDIS_FEATURE)
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
    scaffold = ("-m", "flask", "--app", "myapp", "scaffold")
    copy.check(*scaffold, SQL_FEATURE, *SQL_FIELDS, "--store=sql")
    copy.check(*scaffold, SHELF_FEATURE, *SHELF_FIELDS, "--store=sql")
    copy.check(*scaffold, REDIS_FEATURE, *REDIS_FIELDS, "--store=redis")
    yield copy
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    client.close()


def test_the_features_are_written_and_registered(project):
    for name in FEATURES:
        files = sorted(path.name for path in (project.root / "myapp" / name).iterdir())
        assert files == ["__init__.py", "endpoints.py", "models.py", f"test_{name}.py"]
    factory = (project.root / "myapp" / "__init__.py").read_text()
    for name in FEATURES:
        assert factory.count(f"{name}_blueprint") == 2
    versions = project.root / "migrations" / "versions"
    for name in (SQL_FEATURE, SHELF_FEATURE):
        created = [path.name for path in versions.glob(f"*_create_{name}.py")]
        assert len(created) == 1, created
        assert re.fullmatch(r"[0-9]{4}_create_\w+\.py", created[0])
    models = (project.root / "myapp" / SQL_FEATURE / "models.py").read_text()
    assert '"author_id": {"type": "integer", "x-references": "foo"},' in models
    assert 'unique = ("code",)' in models


@pytest.mark.parametrize(
    "spec, store, message",
    [
        ("x:blob", "sql", "'x:blob': unknown type 'blob'"),
        ("x:ref:to=bar", "sql", "'bar' is a Redis feature"),
        ("x:ref:to=nothing", "sql", "there is no SQL feature 'nothing'"),
        ("id:integer", "sql", "'id' cannot be a field name"),
        ("x:string:unique", "redis", "unique needs --store sql"),
    ],
)
def test_a_bad_field_spec_is_refused_in_one_line_and_nothing_changes(
    project, spec, store, message
):
    before = project.digest()
    result = project.run(
        "-m",
        "flask",
        "--app",
        "myapp",
        "scaffold",
        "probe_other",
        spec,
        f"--store={store}",
    )
    assert result.returncode == 2
    assert message in result.stderr.strip().splitlines()[-1], result.stderr
    assert project.digest() == before


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
    project.check("-m", "mypy")


def test_the_new_features_pass_their_tests_spec_checks_and_schemathesis(project):
    """Their own tests, the drift test, the spec checks, the generated client's
    round trip, the generated bad input and a short schemathesis run on both
    documents.

    Schemathesis runs with fewer examples than the main suite gives foo and bar: here
    it checks that the new specs have the shapes of theirs. What is skipped is what
    does not apply on SQLite or to a feature's declaration, nothing else.
    """
    fuzz = "tests/test_contract_fuzz.py::test_spec_holds_under_fuzzing"
    result = project.check(
        "-m",
        "pytest",
        "-q",
        "-rs",
        "-p",
        "no:cacheprovider",
        *(f"myapp/{name}" for name in FEATURES),
        "myapp/foo/test_foo.py::test_models_and_migrations_agree",
        "tests/test_specs.py",
        "tests/test_generated_client.py",
        "tests/test_bad_input.py::test_generated_requests_never_break_the_contract",
        *(
            f"{fuzz}[{feature}-{document}]"
            for feature in FEATURES
            for document in ("swagger.json", "openapi.json")
        ),
        timeout=600,
        env=dict(project.env, MYAPP_FUZZ_EXAMPLES="10"),
    )
    lines = result.stdout.strip().splitlines()
    summary = lines[-1]
    assert re.fullmatch(r"[0-9]+ passed(, [0-9]+ skipped)? in .*", summary), summary
    allowed = (
        "got empty parameter set",  # e.g. no unique field: no unique-value tests
        "a race needs a server",
        "every field is required",
        "fewer than two",
    )
    skipped = [line for line in lines if line.startswith("SKIPPED")]
    assert all(any(reason in line for reason in allowed) for line in skipped), skipped


def test_a_live_server_serves_the_features_after_db_upgrade(project, tmp_path):
    project.check("-m", "flask", "--app", "myapp", "db", "upgrade", env=project.serving)
    log_path = tmp_path / "server.log"
    with open(log_path, "w") as log:
        server = LiveServer(project, log)
        try:
            server.wait_until_up()
            check_typed_fields(server)
            status, _, body = server.request("GET", "/docs")
            assert status == 200
            for name in ("foo", "bar", *FEATURES):
                assert f'"/v1/{name}/swagger.json"'.encode() in body
        except AssertionError as error:
            raise AssertionError(f"{error}\nserver log:\n{log_path.read_text()}")
        finally:
            server.stop()


NOTE_TESTS = """

def test_note_is_optional_kept_and_removed_by_a_null_patch(client):
    created = client.post(COLLECTION, json={"title": "a", "note": "n"}).get_json()
    assert created["note"] == "n"
    assert "note" not in client.post(COLLECTION, json={"title": "b"}).get_json()
    location = f"{COLLECTION}{created['id']}"
    patched = client.patch(location, json={"note": None})
    assert patched.status_code == 200
    assert "note" not in patched.get_json()
    assert client.get(location).get_json() == patched.get_json()
"""


def add_note(models):
    """The README's "Adding a field" for an optional ``note``: one property."""
    text = models.read_text()
    anchor = '        "title": {"type": "string", "minLength": 1, "maxLength": 200},\n'
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
