"""`flask scaffold`: names it refuses, what --dry-run lists, how it edits the factory,
and that its templates give black- and flake8-clean code for any allowed name.

Everything here runs in-process on the real tree and writes nothing to it (each test
checks so); generating for real is tested in a copy (test_scaffold_project.py).
"""

import hashlib
import re
import subprocess
import sys
from pathlib import Path

import black
import pytest

from myapp.scaffold import names
from myapp.scaffold.command import render_feature, render_migration
from myapp.scaffold.registration import RegistrationError, register

ROOT = Path(__file__).resolve().parents[2]
FACTORY = ROOT / "myapp" / "__init__.py"


def tree_digest():
    """A digest of every file a scaffold could create or change."""
    digest = hashlib.sha256()
    for folder in ("myapp", "migrations"):
        for path in sorted((ROOT / folder).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(str(path).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


@pytest.fixture
def unchanged_tree():
    before = tree_digest()
    yield
    assert tree_digest() == before, "the scaffold changed the project"


def scaffold(app, *args):
    return app.test_cli_runner().invoke(args=["scaffold", *args])


@pytest.mark.parametrize(
    "name, store, reason",
    [
        ("Baz", "sql", "lower-case snake case"),
        ("baz-qux", "sql", "lower-case snake case"),
        ("baz qux", "sql", "lower-case snake case"),
        ("9lives", "redis", "lower-case snake case"),
        ("_baz", "sql", "lower-case snake case"),
        ("baz_", "sql", "lower-case snake case"),
        ("baz__qux", "sql", "lower-case snake case"),
        ("bäz", "sql", "lower-case snake case"),
        ("", "sql", "lower-case snake case"),
        ("a" * 21, "sql", "at most 20 characters"),
        ("class", "sql", "Python keyword"),
        ("import", "redis", "Python keyword"),
        ("docs", "sql", "reserved"),
        ("health", "redis", "reserved"),
        ("ready", "sql", "reserved"),
        ("api", "sql", "reserved"),
        ("static", "sql", "reserved"),
        ("swaggerui", "sql", "reserved"),
        ("v1", "sql", "reserved"),
        ("test", "sql", "reserved"),
        ("specs", "sql", "reserved"),
        ("foo", "sql", "myapp/foo already exists"),
        ("bar", "redis", "myapp/bar already exists"),
        ("db", "sql", "myapp/db already exists"),
        ("settings", "redis", "myapp/settings already exists"),
        ("ops", "sql", "myapp/ops already exists"),
        ("scaffold", "sql", "myapp/scaffold already exists"),
        ("templates", "sql", "reserved"),
        ("resource", "sql", "would both import and define Resource"),
        ("blueprint", "redis", "would both import and define Blueprint"),
        ("sql", "sql", "would both import and define SqlModel"),
        ("redis", "redis", "would both import and define RedisModel"),
    ],
)
def test_refuses_with_the_reason_and_changes_nothing(
    app, unchanged_tree, name, store, reason
):
    result = scaffold(app, name, "--store", store)
    assert result.exit_code == 2, result.output
    assert reason in result.output
    assert "Invalid value for NAME" in result.output


def test_a_name_the_app_routes_is_refused(make_app, unchanged_tree):
    app = make_app()
    app.add_url_rule("/metrics", "metrics", lambda: "")
    result = scaffold(app, "metrics", "--store", "sql")
    assert result.exit_code == 2
    assert "the app already has it as the route /metrics" in result.output


def test_store_is_required_and_checked(app, unchanged_tree):
    assert "Missing option '--store'" in scaffold(app, "baz").output
    result = scaffold(app, "baz", "--store", "mongo")
    assert result.exit_code == 2
    assert "'mongo' is not one of 'redis', 'sql'" in result.output


@pytest.mark.parametrize("store", ["sql", "redis"])
def test_dry_run_lists_every_file_and_writes_nothing(app, unchanged_tree, store):
    result = scaffold(app, "dry_probe", "--store", store, "--dry-run")
    assert result.exit_code == 0, result.output
    listed = [line.strip() for line in result.output.splitlines()]
    expected = [
        "Would create:",
        "myapp/dry_probe/__init__.py",
        "myapp/dry_probe/endpoints.py",
        "myapp/dry_probe/models.py",
        "myapp/dry_probe/test_dry_probe.py",
        "Would edit:",
        "myapp/__init__.py (import dry_probe_blueprint, add it to FEATURES)",
    ]
    if store == "sql":
        assert listed[5].startswith("migrations/versions/")
        assert listed[5].endswith("_create_dry_probe.py")
        del listed[5]
    assert listed == expected
    assert not (ROOT / "myapp" / "dry_probe").exists()


def test_registration_adds_one_import_and_one_entry():
    source = FACTORY.read_text()
    edited = register(source, "c_probe")
    added = [line for line in edited.splitlines() if line not in source.splitlines()]
    assert added == [
        "from .c_probe import blueprint as c_probe_blueprint",
        "    c_probe_blueprint,",
    ]
    lines = edited.splitlines()
    position = lines.index(added[0])
    assert lines[position - 1] < added[0] < lines[position + 1]
    assert lines[lines.index(added[1]) + 1] == "]"


def test_registration_handles_a_one_line_list_and_refuses_what_it_cannot_edit():
    source = "from .a import blueprint as a_blueprint\n\nFEATURES = [a_blueprint]\n"
    assert register(source, "b") == (
        "from .a import blueprint as a_blueprint\n"
        "from .b import blueprint as b_blueprint\n"
        "\nFEATURES = [\n    a_blueprint,\n    b_blueprint,\n]\n"
    )
    for broken, reason in [
        ("from .a import x\n", "no `FEATURES = [...]`"),
        ("from .a import x\nFEATURES = [x]  # first\n", "follows the FEATURES"),
        ("from .a import x\nFEATURES = [\n    x,  # first\n]\n", "holds comments"),
        ("from .a import x\nFEATURES = list()\n", "not a list of names"),
        ("FEATURES = []\nfrom .a import x\n", "do not all precede"),
        ("from .a import b_blueprint\nFEATURES = [b_blueprint]\n", "already in"),
    ]:
        with pytest.raises(RegistrationError, match=re.escape(reason)):
            register(broken, "b")


@pytest.mark.parametrize(
    "name, spellings",
    [
        ("baz", ("Baz", "bazes", "a baz")),
        ("order_item", ("OrderItem", "order items", "an order item")),
        ("category", ("Category", "categories", "a category")),
        ("day2", ("Day2", "day2s", "a day2")),
    ],
)
def test_spellings(name, spellings):
    described = names.describe(name)
    assert (described["class_name"], described["plural"], described["a_words"]) == (
        spellings
    )


def test_templates_are_black_and_flake8_clean_for_any_allowed_name(tmp_path):
    """The shortest, a typical and the longest names, for both stores."""
    longest = "abcdefghi_klmnopqrst"
    assert len(longest) == names.MAX_LENGTH
    mode = black.Mode(line_length=88)
    written = []
    for name in ["q", "order_item", longest]:
        for store in ["sql", "redis"]:
            files = render_feature(name, store)
            package = tmp_path / store / name
            package.mkdir(parents=True)
            for file, text in files.items():
                written.append(package / file)
                written[-1].write_text(text)
        revision = f"0002_create_{name}"
        assert len(revision) <= 32  # Alembic's version_num column
        versions = tmp_path / "versions" / name
        versions.mkdir(parents=True)
        for down_revision in [None, "0001_create_foo"]:
            written.append(versions / f"{down_revision}.py")
            written[-1].write_text(render_migration(name, revision, down_revision))
    for path in written:
        text = path.read_text()
        assert black.format_str(text, mode=mode) == text, f"black would change {path}"
    flake8 = subprocess.run(
        [sys.executable, "-m", "flake8", "--config", ROOT / ".flake8", tmp_path],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert flake8.returncode == 0, flake8.stdout + flake8.stderr
