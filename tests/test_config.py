"""Settings discovery and loading, DB_CONFIG validation, secret masking."""

from __future__ import annotations

import logging
import sys

import pytest

import db_plugins
from db_plugins.config import find_settings, get_logger, load_settings, mask_url, scrub, settings_from_dict

SECRET = "s3cr3t-Pa55"
GOOD = (
    'DB_CONFIG = {"SQL": {"ENGINE": "postgresql", "HOST": "db.example", "USER": "u", '
    f'"PASSWORD": "{SECRET}", "PORT": 5432, "DB_NAME": "app"}}}}\n'
)


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_discovery_order(tmp_path):
    explicit = write(tmp_path / "a" / "settings.py", GOOD)
    env_file = write(tmp_path / "b" / "conf.py", GOOD)
    write(tmp_path / "settings.py", GOOD)
    environ = {"DBP_SETTINGS": str(env_file)}
    assert find_settings(explicit, environ=environ, cwd=tmp_path) == explicit.resolve()
    assert find_settings(tmp_path / "a", environ=environ, cwd=tmp_path) == explicit.resolve()  # a directory
    assert find_settings(None, environ=environ, cwd=tmp_path) == env_file.resolve()
    assert find_settings(None, environ={}, cwd=tmp_path) == (tmp_path / "settings.py").resolve()


def test_missing_settings_file(tmp_path):
    with pytest.raises(db_plugins.ConfigError, match=r"settings file not found.*--settings"):
        find_settings(None, environ={}, cwd=tmp_path)
    with pytest.raises(db_plugins.ConfigError, match="from DBP_SETTINGS"):
        find_settings(None, environ={"DBP_SETTINGS": str(tmp_path / "nope.py")}, cwd=tmp_path)


def test_loaded_by_path_with_models_importable_and_sys_path_restored(tmp_path):
    write(tmp_path / "myapp" / "__init__.py", "")
    write(
        tmp_path / "myapp" / "models.py",
        "from sqlalchemy.orm import DeclarativeBase\nclass Base(DeclarativeBase):\n    pass\n",
    )
    write(
        tmp_path / "settings.py", 'import helper\nDB_CONFIG = {"SQL": {"URL": helper.URL, "MODELS": "myapp.models"}}\n'
    )
    write(tmp_path / "helper.py", 'URL = "sqlite:///app.db"\n')
    before = list(sys.path)
    settings = load_settings(tmp_path)
    assert sys.path == before
    section = settings.section("SQL")
    assert section.url == f"sqlite:///{tmp_path / 'app.db'}"  # relative to the settings file
    assert section.migrations_dir == tmp_path / "migrations"
    assert section.load_models().__name__ == "myapp.models"
    assert sys.path == before
    assert "settings" not in sys.modules or sys.modules["settings"].__file__ != str(tmp_path / "settings.py")


@pytest.mark.parametrize(
    "text, message",
    [
        ("DB_CONFIG = {\n", "syntax error on line 1"),
        ("X = 1\n", "defines no DB_CONFIG"),
        ("raise RuntimeError('boom')\n", "failed to load: RuntimeError: boom"),
        ("DB_CONFIG = []\n", "DB_CONFIG: expected a dict"),
        ("DB_CONFIG = {}\n", "DB_CONFIG: is empty"),
        ("DB_CONFIG = {'NOSQL': {}}\n", "unknown section 'NOSQL'"),
    ],
)
def test_bad_settings_files(tmp_path, text, message):
    write(tmp_path / "settings.py", text)
    with pytest.raises(db_plugins.ConfigError, match=message):
        load_settings(tmp_path)


PARTS = {"ENGINE": "postgresql", "HOST": "h", "USER": "u", "PASSWORD": SECRET, "PORT": 5432, "DB_NAME": "d"}


@pytest.mark.parametrize(
    "section, message",
    [
        ({**PARTS, "PORT": "5432"}, r"\['SQL'\]\['PORT'\]: expected an integer, got str"),
        ({**PARTS, "PORT": True}, r"\['PORT'\]: expected an integer"),
        ({**PARTS, "PORT": 70000}, "port number"),
        ({k: v for k, v in PARTS.items() if k != "HOST"}, "missing key 'HOST'"),
        ({**PARTS, "ENGINE": "nosuchdb"}, "unknown database backend 'nosuchdb'"),
        ({**PARTS, "COLOUR": "blue"}, "unknown key 'COLOUR'"),
        ({"URL": "not a url"}, "not a valid SQLAlchemy URL"),
        ({"URL": "sqlite://", "HOST": "x"}, "either URL or ENGINE"),
        ({"URL": "sqlite://", "ENGINE_OPTIONS": []}, "ENGINE_OPTIONS.*expected a dict"),
        ("sqlite://", "expected a dict"),
    ],
)
def test_sql_section_validation(section, message):
    with pytest.raises(db_plugins.ConfigError, match=message) as info:
        settings_from_dict({"SQL": section})
    assert SECRET not in str(info.value)
    assert "\n" not in str(info.value)


def test_mask_url_and_scrub():
    assert mask_url(f"postgresql://u:{SECRET}@h:5432/d") == "postgresql://u:***@h:5432/d"
    assert mask_url(f"mongodb://u:{SECRET}@h1,h2/db?authSource=admin") == "mongodb://u:***@h1,h2/db?authSource=admin"
    assert mask_url(f"mysql://h/d?password={SECRET}&x=1") == "mysql://h/d?password=***&x=1"
    settings_from_dict({"SQL": PARTS})  # registers the password
    assert SECRET not in scrub(f"driver said: password {SECRET} rejected")


def test_password_never_in_repr_or_logs(caplog):
    settings = settings_from_dict({"SQL": PARTS})
    section = settings.section("SQL")
    assert SECRET not in repr(section) and "***" in repr(section)
    assert SECRET not in repr(settings)
    with caplog.at_level(logging.INFO, logger="db_plugins"):
        get_logger("db_plugins.test").info("connecting to %s with %s", section.url, SECRET)
    assert caplog.records and SECRET not in caplog.text


def test_connect_with_wrong_password_masks_it():
    # A closed port: the error must come quickly, name the host, and hide the password.
    with pytest.raises(db_plugins.ConnectionError) as info:
        db_plugins.connect(
            {**PARTS, "HOST": "127.0.0.1", "PORT": 1, "ENGINE_OPTIONS": {"connect_args": {"connect_timeout": 3}}}
        )
    text = str(info.value)
    assert "127.0.0.1" in text and SECRET not in text and "***" in text
    assert isinstance(info.value.__cause__, Exception)


@pytest.mark.parametrize(
    ("section", "meant"),
    [
        ({"SQL": {"ULR": "sqlite://"}}, "'ULR' (did you mean 'URL'?)"),
        ({"SQL": {"url": "sqlite://"}}, "'url' (did you mean 'URL'?)"),
        ({"SQL": {"URL": "sqlite://", "MODLES": "app.models"}}, "'MODLES' (did you mean 'MODELS'?)"),
        ({"SQL": {"URL": "sqlite://", "MIGRATION_DIR": "m"}}, "'MIGRATION_DIR' (did you mean 'MIGRATIONS_DIR'?)"),
        ({"MONGO": {"ULR": "mongomock://localhost/app"}}, "'ULR' (did you mean 'URL'?)"),
        ({"MONGO": {"url": "mongomock://localhost/app"}}, "'url' (did you mean 'URL'?)"),
        ({"MONGO": {"URL": "mongomock://localhost/app", "DATABSE": "app"}}, "'DATABSE' (did you mean 'DATABASE'?)"),
    ],
)
def test_a_misspelt_key_is_named_with_the_key_meant(section, meant):
    """Not "missing key 'ENGINE'" (as a section without URL would read): the typo itself, and what it meant."""
    with pytest.raises(db_plugins.ConfigError) as info:
        settings_from_dict(section)
    assert f"unknown key {meant}" in str(info.value)
    assert "\n" not in str(info.value)


def test_an_unknown_key_unlike_any_lists_the_keys():
    with pytest.raises(db_plugins.ConfigError, match=r"unknown key 'COLOUR' \(expected one of: DB_NAME, ENGINE"):
        settings_from_dict({"SQL": {"URL": "sqlite://", "COLOUR": "red"}})
    with pytest.raises(db_plugins.ConfigError, match=r"unknown key 'COLOUR' \(expected URL or HOST"):
        settings_from_dict({"MONGO": {"URL": "mongomock://localhost/app", "COLOUR": "red"}})


@pytest.mark.parametrize(
    ("config", "module", "package"),
    [
        ({"URL": "mysql+pymysql://u:pw@127.0.0.1/app"}, "pymysql", "pip install PyMySQL"),
        ({"URL": "postgresql://u:pw@127.0.0.1/app"}, "psycopg2", "pip install psycopg2-binary"),
        ({"URL": "mongomock://localhost/app"}, "mongomock", "pip install mongomock"),
    ],
)
def test_a_missing_driver_names_its_own_distribution(monkeypatch, config, module, package):
    """The hint names the driver's distribution ("db-plugins" on the public index is another project),
    and the ImportError is the cause."""
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(db_plugins.ConfigError) as info:
        db_plugins.connect(config)
    message = str(info.value)
    assert package in message and "db-plugins[" not in message and "pw" not in message
    assert isinstance(info.value.__cause__, ImportError)


def test_postgresql_needs_nothing_beyond_the_package():
    """psycopg2-binary is a dependency of the package itself (setup.cfg install_requires)."""
    from importlib.metadata import requires

    assert any(r.startswith("psycopg2-binary") and "extra" not in r for r in requires("db-plugins"))
