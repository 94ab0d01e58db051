"""Alembic environment for Flask-Migrate: the app's engine and models' metadata."""

import logging
from logging.config import fileConfig

from alembic import context
from flask import current_app

from myapp.api.sql_engines import lift_statement_timeout

config = context.config
# Keep the app's own loggers: fileConfig would otherwise disable them.
fileConfig(config.config_file_name, disable_existing_loggers=False)
logger = logging.getLogger("alembic.env")

target_db = current_app.extensions["migrate"].db
config.set_main_option(
    "sqlalchemy.url",
    target_db.engine.url.render_as_string(hide_password=False).replace("%", "%%"),
)


def get_metadata():
    return target_db.metadatas[None]


def run_migrations_offline():
    """Emit SQL to stdout (``flask db upgrade --sql``) without connecting."""
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=get_metadata(),
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def render_item(type_, obj, autogen_context):
    """Autogenerate writes our own column types (sql_tables) with their import."""
    if type_ == "type" and type(obj).__module__ == "myapp.api.sql_tables":
        autogen_context.imports.add("from myapp.api import sql_tables")
        return f"sql_tables.{obj!r}"
    return False


def run_migrations_online():
    def process_revision_directives(context, revision, directives):
        # Never write an empty revision from autogenerate.
        if getattr(config.cmd_opts, "autogenerate", False):
            script = directives[0]
            if script.upgrade_ops.is_empty():
                directives[:] = []
                logger.info("No changes in schema detected.")

    conf_args = dict(current_app.extensions["migrate"].configure_args)
    conf_args.setdefault("process_revision_directives", process_revision_directives)
    conf_args.setdefault("render_item", render_item)

    with target_db.engine.connect() as connection:
        lift_statement_timeout(connection)
        context.configure(
            connection=connection, target_metadata=get_metadata(), **conf_args
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
