"""The command: check the name, plan every file, then write them (or list them)."""

import ast
import os
import re
from datetime import datetime
from pathlib import Path

import click
from alembic.config import Config
from alembic.script import ScriptDirectory
from flask import current_app
from flask.cli import with_appcontext
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from ..api import fields as field_types
from ..api.redis_model import RedisModel
from ..api.sql_model import SqlModel
from ..api.model import MODELS, StoredModel
from ..db import sql
from . import field_specs, migration, names
from .literals import literal
from .registration import RegistrationError, register

STORES = {"sql": "SQL", "redis": "Redis"}

templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(),  # HTML only: Python is written as is
    keep_trailing_newline=True,
    undefined=StrictUndefined,
)


def _stored_models(base=StoredModel):
    for model in base.__subclasses__():
        yield model
        yield from _stored_models(model)


def names_in_use(app):
    """What the running app already calls its own, and what it is there."""
    taken = {}
    for model in _stored_models():
        if getattr(model, "kind", None):
            taken[model.kind] = "a Redis kind"
    for table in sql.metadata.tables:
        taken[table] = "a table"
    for rule in app.url_map.iter_rules():
        taken[rule.rule.split("/")[1]] = f"the route {rule.rule}"
    for blueprint in app.blueprints:
        taken[blueprint] = "a blueprint"
    return taken


def check_name(app, name):
    """Raise a usage error naming the reason when ``name`` cannot be a new feature."""
    problem = names.syntax_problem(name)
    package = Path(app.root_path)
    if problem is None and (
        (package / name).exists() or (package / f"{name}.py").exists()
    ):
        problem = f"myapp/{name} already exists"
    in_use = names_in_use(app)
    if problem is None and name in in_use:
        problem = f"the app already has it as {in_use[name]}"
    if problem is not None:
        raise click.BadParameter(f"{name!r}: {problem}.", param_hint="NAME")


def _script_directory(app):
    config = Config()
    config.set_main_option("script_location", app.extensions["migrate"].directory)
    return ScriptDirectory.from_config(config)


def plan_migration(app, name, declaration):
    """The migration creating the table: next number, chained to the single head."""
    scripts = _script_directory(app)
    heads = scripts.get_heads()
    if len(heads) > 1:
        raise click.ClickException(
            f"The migrations have {len(heads)} heads ({', '.join(heads)}):"
            " merge them first (flask db merge heads)."
        )
    numbers = [
        int(match.group(1))
        for script in scripts.walk_revisions()
        if (match := re.match(r"([0-9]+)_", script.revision))
    ]
    revision = f"{max(numbers, default=0) + 1:04d}_create_{name}"
    path = Path(scripts.versions) / f"{revision}.py"
    down_revision = heads[0] if heads else None
    return path, render_migration(name, revision, down_revision, declaration)


def _declared(declaration):
    return field_types.declare(
        declaration.fields, tuple(declaration.required), tuple(declaration.unique)
    )


def render_migration(name, revision, down_revision, declaration=None):
    declaration = declaration or field_specs.parse((), "sql")
    declared = _declared(declaration)
    return templates.get_template("migration.py.jinja").render(
        name=name,
        revision=revision,
        down_revision=down_revision,
        down_revision_literal=f'"{down_revision}"' if down_revision else "None",
        create_date=datetime.now(),
        uses_sql_tables=any(
            field.kind in ("string", "enum", "array") for field in declared
        ),
        table_lines=migration.table_lines(name, declared),
        index_lines=migration.index_lines(name, declared),
    )


def declaration_lines(declaration):
    """The model's ``fields``, ``required`` and ``unique``, at 4 spaces."""
    # One field a line (black keeps it so): adding a field is adding a line.
    lines = ["    fields = {"]
    for field_name, schema in declaration.fields.items():
        lines += literal(schema, 8, f'"{field_name}": ', ",")
    lines.append("    }")
    for attribute in ("required", "unique"):
        listed = tuple(getattr(declaration, attribute))
        if listed:
            lines += literal(listed, 4, f"{attribute} = ")
    return lines


def _shadowed(source):
    """Names a generated module both imports and defines (a feature "resource"...)."""
    imported, defined = set(), set()
    for node in ast.parse(source).body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            imported.update(alias.asname or alias.name for alias in node.names)
        elif isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            defined.add(node.name)
        elif isinstance(node, ast.Assign):
            defined.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return imported & defined


def render_feature(name, store, declaration=None):
    """The feature package's files, by file name."""
    declaration = declaration or field_specs.parse((), store)
    context = dict(
        names.describe(name),
        store=store,
        store_label=STORES[store],
        declaration_lines=declaration_lines(declaration),
    )
    sources = {
        "__init__.py": "__init__.py.jinja",
        "endpoints.py": "endpoints.py.jinja",
        "models.py": f"{store}/models.py.jinja",
        f"test_{name}.py": f"{store}/test.py.jinja",
    }
    return {
        file: templates.get_template(template).render(context)
        for file, template in sources.items()
    }


def sql_features():
    """The SQL features of the running app, by table name (what a ref may name)."""
    return {
        model.resource: model
        for model in _stored_models(SqlModel)
        if model.__dict__.get("fields") is not None
        and model.resource in sql.metadata.tables
    }


def parse_fields(specs, store):
    """The declaration of FIELD specs, or a usage error naming the bad one."""
    try:
        declaration = field_specs.parse(specs, store)
    except field_specs.SpecError as error:
        raise click.BadParameter(str(error), param_hint="FIELD") from None
    known = sql_features()
    for field_name, target in declaration.references.items():
        if target in known:
            continue
        model = MODELS.get(target)
        if isinstance(model, type) and issubclass(model, RedisModel):
            reason = f"{target!r} is a Redis feature: a ref needs an SQL feature"
        else:
            reason = f"there is no SQL feature {target!r}"
        base = field_name.removesuffix("_id")
        spec = next(s for s in specs if s.split(":")[0] == base)
        raise click.BadParameter(f"{spec!r}: {reason}.", param_hint="FIELD")
    return declaration


def plan(app, name, store, specs=()):
    """Every file to create and the factory's new text; raises if any is impossible."""
    check_name(app, name)
    declaration = parse_fields(specs, store)
    package = Path(app.root_path)
    created = {
        package / name / file: text
        for file, text in render_feature(name, store, declaration).items()
    }
    if store == "sql":
        path, text = plan_migration(app, name, declaration)
        created[path] = text
    for path, text in created.items():
        clash = _shadowed(text)
        if clash:
            raise click.BadParameter(
                f"{name!r}: {path.name} would both import and define"
                f" {', '.join(sorted(clash))}.",
                param_hint="NAME",
            )
        if path.exists():
            raise click.ClickException(f"{path} already exists; nothing was changed.")
    factory = package / "__init__.py"
    try:
        edited = {factory: register(factory.read_text(), name)}
    except RegistrationError as error:
        raise click.ClickException(
            f"Cannot register the blueprint in {factory}: {error}. Nothing was changed."
        ) from None
    return created, edited


def _write(path, text):
    """Write via a temporary file, so a reader never sees half a file."""
    temporary = path.with_name(f".{path.name}.scaffold")
    temporary.write_text(text)
    os.replace(temporary, path)


@click.command("scaffold")
@click.argument("name")
@click.argument("fields", nargs=-1, metavar="[FIELD]...")
@click.option(
    "--store",
    type=click.Choice(sorted(STORES)),
    required=True,
    help="Where the feature's records live.",
)
@click.option(
    "--dry-run", is_flag=True, help="List what would be written; write nothing."
)
@with_appcontext
def scaffold(name, fields, store, dry_run):
    """Create feature NAME (like foo or bar): package, tests, blueprint, migration.

    NAME becomes myapp/NAME/, the URL /v1/NAME/ and, for SQL, the table NAME.
    Each FIELD is name:type[:modifier...]; type is string, integer, number,
    boolean, date, datetime, enum, array or ref; modifiers are required, unique
    (sql), max=N and min=N (length for strings, value for numbers, items for
    arrays), values=a|b|c (enum) and to=FEATURE (ref: the field is NAME_id). With
    no FIELD: name:string:required:min=1:max=120.

    Example: flask scaffold book title:string:required:max=200
    isbn:string:unique:max=20 pages:integer:min=1 author:ref:to=foo --store sql
    """
    app = current_app
    created, edited = plan(app, name, store, fields)
    root = Path(app.root_path).parent

    def shown(path):
        return os.path.relpath(path, root)

    if dry_run:
        click.echo("Would create:")
        for path in created:
            click.echo(f"  {shown(path)}")
        click.echo("Would edit:")
        for path in edited:
            click.echo(f"  {shown(path)} (import {name}_blueprint, add it to FEATURES)")
        return
    (Path(app.root_path) / name).mkdir()
    for path, text in created.items():
        _write(path, text)
        click.echo(f"created  {shown(path)}")
    for path, text in edited.items():
        _write(path, text)
        click.echo(f"edited   {shown(path)}")
    click.echo("\nNext:")
    if store == "sql":
        click.echo("  venv/bin/flask --app myapp db upgrade")
    click.echo(f"  venv/bin/pytest myapp/{name}")
    click.echo(f"  then /v1/{name}/ serves it, documented at /v1/{name}/docs and /docs")
