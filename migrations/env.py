"""Alembic environment of this project's SQL migrations (scaffolded by ``dbp initdb``).

``dbp`` runs it with the connection and the models it has already set up,
under its migration lock. Plain Alembic runs it too: ``environment()`` then
loads the same settings through db_plugins and takes the same lock::

    alembic -c migrations/alembic.ini upgrade head
    alembic -c migrations/alembic.ini -x settings=path/to/settings.py current

It is an ordinary Alembic ``env.py``: edit it as you would any other
(``include_object``, ``version_table``, ...).
"""

from logging.config import fileConfig

from alembic import context

from db_plugins.db.sql.migrations import environment

config = context.config
if config.config_file_name is not None and "dbp" not in config.attributes:
    fileConfig(config.config_file_name, disable_existing_loggers=False)

env = environment(config)
target_metadata = env.metadata


def run_migrations_offline() -> None:
    """Write the SQL to stdout (``alembic upgrade --sql``) instead of running it."""
    context.configure(
        url=env.url,
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        **env.options,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run the migrations on the database of the settings' SQL section."""
    with env.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, **env.options)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
