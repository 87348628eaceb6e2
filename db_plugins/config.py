"""Finding and loading settings files, validating ``DB_CONFIG`` sections, masking secrets.

Settings discovery order: an explicit path (``--settings``) > the
``DBP_SETTINGS`` environment variable > ``./settings.py``. The file is loaded by
path under a private module name, so it never shadows (or is shadowed by) an
importable ``settings`` module, and the directory holding it is importable only
while the settings and the models are being loaded.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import importlib
import importlib.util
import logging
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from .errors import ConfigError

__all__ = [
    "Settings",
    "SectionConfig",
    "find_settings",
    "load_settings",
    "settings_from_dict",
    "mask_url",
    "scrub",
    "register_secret",
    "importable",
    "import_object",
    "get_logger",
    "check_section",
]

SETTINGS_ENV = "DBP_SETTINGS"
SETTINGS_FILE = "settings.py"
MASK = "***"

# user:password@ in any URL; the user part may be empty (":pw@").
_URL_PASSWORD = re.compile(r"(?P<pre>[A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s]*:)(?P<pw>[^@\s/]*)@")
_QUERY_PASSWORD = re.compile(r"(?P<pre>[?&](?:password|passwd|pwd)=)(?P<pw>[^&\s]*)", re.IGNORECASE)

# Passwords seen in validated configurations, so that messages coming from the
# native drivers (which may quote a DSN) can be scrubbed before they surface.
_secrets: set[str] = set()


def register_secret(secret: str | None) -> None:
    """Remember ``secret`` so that :func:`scrub` removes it from any text."""
    if secret and len(secret) >= 3:
        _secrets.add(secret)
        # A password may also reach a message percent-encoded inside a URL.
        from urllib.parse import quote_plus

        _secrets.add(quote_plus(secret))


def mask_url(url: object) -> str:
    """Return ``url`` as a string with its password replaced by ``***``."""
    text = str(url)
    if hasattr(url, "render_as_string"):  # a sqlalchemy.engine.URL
        text = url.render_as_string(hide_password=True)  # type: ignore[union-attr]
    text = _URL_PASSWORD.sub(lambda m: m.group("pre") + MASK + "@", text)
    return _QUERY_PASSWORD.sub(lambda m: m.group("pre") + MASK, text)


def scrub(text: object) -> str:
    """Mask URL passwords and every registered secret in ``text``."""
    out = mask_url(text)
    for secret in sorted(_secrets, key=len, reverse=True):
        out = out.replace(secret, MASK)
    return out


class _ScrubFilter(logging.Filter):
    """Masks secrets in every record logged under the ``db_plugins`` logger."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is the logging module's business
            return True
        record.msg, record.args = scrub(message), None
        return True


_scrub_filter = _ScrubFilter()


def get_logger(name: str = "db_plugins") -> logging.Logger:
    """A logger whose records have URL passwords and registered secrets masked.

    (A filter on a parent logger does not see its children's records, so every
    db_plugins module takes its logger from here.)
    """
    log = logging.getLogger(name)
    if _scrub_filter not in log.filters:
        log.addFilter(_scrub_filter)
    return log


logger = get_logger()


@contextlib.contextmanager
def importable(directory: str | os.PathLike | None) -> Iterator[None]:
    """Make ``directory`` importable for the duration of the block, then restore ``sys.path``."""
    if directory is None:
        yield
        return
    saved = list(sys.path)
    sys.path.insert(0, str(directory))
    try:
        yield
    finally:
        sys.path[:] = saved


def import_object(spec: str, base_dir: str | os.PathLike | None = None, *, what: str = "MODELS") -> Any:
    """Import ``"pkg.module"`` or ``"pkg.module:attr"``, with ``base_dir`` importable meanwhile."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not re.fullmatch(r"[A-Za-z_][\w.]*", module_name):
        raise ConfigError(f"{what}: expected 'package.module' or 'package.module:attribute', got {spec!r}")
    with importable(base_dir):
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ConfigError(f"{what}: cannot import {module_name!r}: {exc}") from exc
    if not attr:
        return module
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ConfigError(f"{what}: module {module_name!r} has no attribute {attr!r}") from None


@dataclass(repr=False)
class SectionConfig:
    """A validated ``DB_CONFIG`` section, common to every plugin.

    ``url`` is the connection URL with the password in it; ``repr`` and
    ``masked_url`` never show it.
    """

    section: str
    plugin: str
    url: str
    models: str | None = None
    migrations_dir: Path | None = None
    base_dir: Path | None = None
    options: dict[str, Any] = field(default_factory=dict)
    password: str | None = None

    @property
    def masked_url(self) -> str:
        return scrub(self.url)

    @property
    def in_process(self) -> str | None:
        """``None``, or, for a database that lives only as long as the process (an in-memory engine),
        what to use instead where the data must outlive it (``dbp`` runs in a process of its own)."""
        return None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.section} {self.masked_url}>"

    def load_models(self) -> Any:
        """Import the ``MODELS`` module (or object) named by this section, or return ``None``."""
        if not self.models:
            return None
        return import_object(self.models, self.base_dir, what=f"DB_CONFIG[{self.section!r}]['MODELS']")


_MISSING = object()


def check_section(
    section_name: str,
    section: Any,
    *,
    required: Mapping[str, type | tuple[type, ...]] = {},
    optional: Mapping[str, type | tuple[type, ...]] = {},
    allow_extra: bool = False,
) -> dict[str, Any]:
    """Check a section's keys and value types; return a copy with its values.

    ``ConfigError`` names the section, the key and what was expected.
    """
    where = f"DB_CONFIG[{section_name!r}]"
    if not isinstance(section, Mapping):
        raise ConfigError(f"{where}: expected a dict, got {type(section).__name__}")
    out = dict(section)
    for key in out:
        if not isinstance(key, str):
            raise ConfigError(f"{where}: keys must be strings, got {key!r}")
    for key, types in {**required, **optional}.items():
        value = out.get(key, _MISSING)
        if value is _MISSING:
            if key in required:
                raise ConfigError(f"{where}: missing key {key!r} (expected {_type_names(types)})")
            continue
        if not _is_instance(value, types):
            # Any value may hold a URL with its password (a list of URLs given for URL...).
            shown = "***" if "PASSWORD" in key.upper() else _shorten(scrub(repr(value)))
            raise ConfigError(f"{where}[{key!r}]: expected {_type_names(types)}, got {type(value).__name__} {shown}")
    if not allow_extra:
        unknown = sorted(set(out) - set(required) - set(optional))
        if unknown:
            raise unknown_key(where, unknown[0], {*required, *optional})
    return out


def unknown_key(where: str, key: str, known: Iterable[str], expected: str | None = None) -> ConfigError:
    """The error for a key no plugin reads: naming the key it most likely meant (a typo, another case)."""
    meant = closest_key(key, known)
    if meant is not None:
        return ConfigError(f"{where}: unknown key {key!r} (did you mean {meant!r}?)")
    return ConfigError(f"{where}: unknown key {key!r} (expected {expected or 'one of: ' + ', '.join(sorted(known))})")


def closest_key(key: Any, known: Iterable[str]) -> str | None:
    """The known key ``key`` is a misspelling of (``"url"``, ``"ULR"`` -> ``"URL"``), or ``None``."""
    if not isinstance(key, str):
        return None
    by_upper = {k.upper(): k for k in known}
    if key.upper() in by_upper:
        return by_upper[key.upper()]
    swapped = [k for k in by_upper if sorted(k) == sorted(key.upper())]  # letters swapped: "ULR"
    if len(swapped) == 1:
        return by_upper[swapped[0]]
    found = difflib.get_close_matches(key.upper(), by_upper, n=1, cutoff=0.75)
    return by_upper[found[0]] if found else None


def _shorten(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _is_instance(value: Any, types: type | tuple[type, ...]) -> bool:
    types = types if isinstance(types, tuple) else (types,)
    if isinstance(value, bool) and bool not in types:
        return False  # True is an int to Python, never a port number to us
    return isinstance(value, types)


def _type_names(types: type | tuple[type, ...]) -> str:
    types = types if isinstance(types, tuple) else (types,)
    names = {int: "an integer", str: "a string", dict: "a dict", bool: "a boolean", float: "a number"}
    return " or ".join(names.get(t, t.__name__) for t in types)


# -- plugins, as the registry provides them ----------------------------------------
#
# Sections are validated by their plugins, which db_plugins.registry loads. The
# registry sits above this module: it installs its lookup here when imported
# (``import db_plugins`` imports it), so this module never imports it.

_plugin_lookup: Callable[[str], Any] | None = None


def use_plugins(lookup: Callable[[str], Any]) -> None:
    """Install the function giving the plugin that serves a section name (``registry.get_plugin``)."""
    global _plugin_lookup
    _plugin_lookup = lookup


def plugin_for(name: str) -> Any:
    """The plugin serving section ``name`` (raises :class:`ConfigError` when none does)."""
    if _plugin_lookup is None:  # db_plugins/__init__.py imports the registry before anything runs
        raise RuntimeError("db_plugins.registry has not installed its plugin lookup")
    return _plugin_lookup(name)


def resolve_section(config_or_url: Any, plugin: str, base_dir: Any = None) -> SectionConfig:
    """A URL, a ``DB_CONFIG`` section or a validated section, as the validated section of ``plugin``."""
    if isinstance(config_or_url, SectionConfig):
        return config_or_url
    if isinstance(config_or_url, os.PathLike):
        config_or_url = os.fspath(config_or_url)
    if isinstance(config_or_url, str):
        section: Mapping[str, Any] = {"URL": config_or_url}
    elif isinstance(config_or_url, Mapping):
        section = config_or_url
    else:
        raise ConfigError(f"connect: expected a URL or a DB_CONFIG section dict, got {type(config_or_url).__name__}")
    return plugin_for(plugin).validate(plugin, section, base_dir=base_dir)


class Settings:
    """A loaded settings file: its ``DB_CONFIG`` and each section validated by its plugin."""

    def __init__(
        self,
        db_config: Mapping[str, Any],
        *,
        path: Path | None = None,
        module: ModuleType | None = None,
        base_dir: str | os.PathLike | None = None,
    ) -> None:
        self.path = path
        self.module = module
        self.base_dir = Path(base_dir).resolve() if base_dir else (path.parent if path else Path.cwd())
        if not isinstance(db_config, Mapping):
            raise ConfigError(f"DB_CONFIG: expected a dict with one section per plugin, got {type(db_config).__name__}")
        if not db_config:
            raise ConfigError("DB_CONFIG: is empty (expected at least one section such as 'SQL' or 'MONGO')")
        self.sections: dict[str, SectionConfig] = {}
        for name, section in db_config.items():
            self.sections[name] = plugin_for(name).validate(name, section, base_dir=self.base_dir)

    def section(self, name: str) -> SectionConfig:
        try:
            return self.sections[name]
        except KeyError:
            configured = ", ".join(self.sections) or "none"
            raise ConfigError(f"DB_CONFIG: no {name!r} section (configured: {configured})") from None

    def __repr__(self) -> str:
        return f"<Settings {self.path or '(dict)'} sections={list(self.sections)}>"


def find_settings(
    path: str | os.PathLike | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    cwd: str | os.PathLike | None = None,
) -> Path:
    """Locate the settings file: ``path`` > ``$DBP_SETTINGS`` > ``./settings.py``.

    ``path`` (or the variable) may name a file or a directory holding ``settings.py``.
    """
    environ = os.environ if environ is None else environ
    cwd = Path(cwd) if cwd else Path.cwd()
    if path is not None:
        origin = "--settings"
    elif environ.get(SETTINGS_ENV):
        path, origin = environ[SETTINGS_ENV], SETTINGS_ENV
    else:
        path, origin = SETTINGS_FILE, "the current directory"
    candidate = Path(path)
    if not candidate.is_absolute():
        candidate = cwd / candidate
    if candidate.is_dir():
        candidate = candidate / SETTINGS_FILE
    if not candidate.is_file():
        hint = " (pass --settings PATH or set DBP_SETTINGS)" if origin == "the current directory" else ""
        raise ConfigError(f"settings file not found: {candidate} (from {origin}){hint}")
    return candidate.resolve()


def load_settings(
    path: str | os.PathLike | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    cwd: str | os.PathLike | None = None,
) -> Settings:
    """Find, execute and validate a settings file; see :func:`find_settings`."""
    file = find_settings(path, environ=environ, cwd=cwd)
    digest = hashlib.sha1(str(file).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(f"_dbp_settings_{digest}", file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    with importable(file.parent):
        try:
            spec.loader.exec_module(module)
        except SyntaxError as exc:
            raise ConfigError(f"{file}: syntax error on line {exc.lineno}: {exc.msg}") from None
        except Exception as exc:
            raise ConfigError(f"{file}: failed to load: {type(exc).__name__}: {scrub(exc)}") from None
    db_config = getattr(module, "DB_CONFIG", _MISSING)
    if db_config is _MISSING:
        raise ConfigError(f"{file}: defines no DB_CONFIG (expected a dict with 'SQL' and/or 'MONGO' sections)")
    return Settings(db_config, path=file, module=module)


def settings_from_dict(db_config: Mapping[str, Any], base_dir: str | os.PathLike | None = None) -> Settings:
    """Build :class:`Settings` from a ``DB_CONFIG`` dict (paths relative to ``base_dir``, default cwd)."""
    return Settings(db_config, base_dir=base_dir)
