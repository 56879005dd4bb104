"""Loading the settings: the sources in their precedence, the plan's YAML schema, one-line errors.

See :mod:`ibbot.settings` for the sources and their order.
"""

from __future__ import annotations

import inspect
import os
import reprlib
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
)
from pydantic_settings.sources import InitSettingsSource

from ibbot.errors import ConfigError
from ibbot.safeload import LoadError, load_toml, load_yaml, read_limited
from ibbot.settings.model import (
    ENV_DELIMITER,
    ENV_PREFIX,
    MAX_DEPTH,
    MAX_TEXT,
    REDACTED,
    CrossFieldError,
    Settings,
    lookup,
    secret_paths,
)

__all__ = [
    "DEFAULT_CONFIG_FILE",
    "DEFAULT_ENV_FILE",
    "load_settings",
    "parse_override",
    "plan_config_to_settings",
]

DEFAULT_CONFIG_FILE = Path("settings.toml")
DEFAULT_ENV_FILE = Path(".env")
# Words in a setting's name that mark its value as secret even when the setting is unknown.
_SECRET_WORDS = ("account", "password", "secret", "token", "key", "agent")
# The nodes a YAML settings file may expand to, its aliases followed (an alias bomb stops here).
_MAX_YAML_NODES = 100_000

# --- the user's plan (YAML) ----------------------------------------------------------------------

# The plan's schema names (section 4.1 of the implementation plan) and ours.
_PLAN_SECTIONS = {"ibkr": "ib", "data_store": "store"}
# The plan's "file" store is our Parquet store.
_PLAN_BACKENDS = {"file": "parquet"}
# The plan laid the code out under src/; it lives under ibbot/.
_PLAN_PACKAGE = "src."


def plan_config_to_settings(data: Mapping[str, Any]) -> dict[str, Any]:
    """Map a config in the plan's YAML schema onto ours (``ibkr`` -> ``ib``, ``src.`` -> ``ibbot.``).

    Keys already in our schema pass through, so a YAML file may mix both.
    """
    mapped: dict[str, Any] = {}
    for key, value in data.items():
        section = _PLAN_SECTIONS.get(key, key)
        if section in mapped:
            raise ConfigError(section, REDACTED, f"given twice (as {key!r} and {section!r})")
        mapped[section] = value
    store = mapped.get("store")
    if isinstance(store, Mapping) and isinstance(store.get("backend"), str):
        mapped["store"] = {
            **store,
            "backend": _PLAN_BACKENDS.get(store["backend"], store["backend"]),
        }
    strategies = mapped.get("strategies")
    if isinstance(strategies, list):
        mapped["strategies"] = [_plan_strategy(entry) for entry in strategies]
    return mapped


def _plan_strategy(entry: Any) -> Any:
    if not isinstance(entry, Mapping):
        return entry
    class_path = entry.get("class_path")
    if isinstance(class_path, str) and class_path.startswith(_PLAN_PACKAGE):
        return {**entry, "class_path": "ibbot." + class_path.removeprefix(_PLAN_PACKAGE)}
    return dict(entry)


# --- sources -----------------------------------------------------------------------------------


def parse_override(text: str) -> tuple[str, str]:
    """Split a ``--set SECTION.KEY=VALUE`` (or ``SECTION=JSON``) argument; ``ValueError`` if malformed."""
    key, sep, value = text.partition("=")
    parts = key.strip().split(".")
    if not sep or not all(part.isidentifier() for part in parts):
        raise ValueError(f"expected SECTION.KEY=VALUE (e.g. ib.port=4002), got {text!r}")
    return ".".join(parts), value


class _MappingEnvSource(EnvSettingsSource):
    """Env-var style settings read from a given mapping (the process environment, or the flags).

    Every name carrying the prefix must start with a known section: a misspelt variable is an error.
    """

    def __init__(self, settings_cls: type[BaseSettings], variables: Mapping[str, str]) -> None:
        self._variables = {name.lower(): value for name, value in variables.items()}
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        prefix = self.env_prefix.lower()
        return {name: value for name, value in self._variables.items() if name.startswith(prefix)}

    def __call__(self) -> dict[str, Any]:
        prefix = self.env_prefix.lower()
        for name in self.env_vars:
            # An unknown setting's value is never shown: it may be a misspelt secret.
            parts = name.removeprefix(prefix).split(ENV_DELIMITER)
            if parts[0] not in self.settings_cls.model_fields:
                raise ConfigError(
                    self.describe(name), REDACTED, f"unknown setting; {_known_sections()}"
                )
            if len(parts) > MAX_DEPTH:
                raise ConfigError(
                    self.describe(name), REDACTED, f"nested deeper than {MAX_DEPTH} levels"
                )
        return super().__call__()

    def describe(self, name: str) -> str:
        """How a user names variable ``name`` (lower-cased by the source) in this source."""
        return _short(name.upper())

    def origin(self, path: tuple[str, ...]) -> str | None:
        """The variable that set ``path`` (most specific first), if this source set it."""
        prefix = self.env_prefix.lower()
        for depth in range(len(path), 0, -1):
            name = prefix + ENV_DELIMITER.join(path[:depth])
            if name in self.env_vars:
                return self.describe(name)
        return None


class _FlagsSource(_MappingEnvSource):
    """``--set SECTION.KEY=VALUE`` and the logging flags, parsed exactly like env vars."""

    def __init__(self, settings_cls: type[BaseSettings], overrides: Mapping[str, str]) -> None:
        variables = {
            ENV_PREFIX + key.replace(".", ENV_DELIMITER): value for key, value in overrides.items()
        }
        super().__init__(settings_cls, variables)

    def describe(self, name: str) -> str:
        return "--set " + _short(
            name.removeprefix(self.env_prefix.lower()).replace(ENV_DELIMITER, ".")
        )


class _DotEnvSource(DotEnvSettingsSource):
    """The ``.env`` file: only its ``IBBOT_`` variables (it may hold other tools' variables too)."""

    def __init__(self, settings_cls: type[BaseSettings], env_file: Path) -> None:
        self.path = env_file
        try:
            too_big = env_file.stat().st_size > MAX_TEXT
        except OSError as exc:
            raise ConfigError("config", str(env_file), f"cannot read it: {exc}") from exc
        if too_big:
            raise ConfigError(
                "config", str(env_file), f"cannot read it: larger than {MAX_TEXT} bytes"
            )
        super().__init__(settings_cls, env_file=env_file)
        self._checker = _MappingEnvSource(
            settings_cls, {name: value or "" for name, value in self.env_vars.items()}
        )

    def _load_env_vars(self) -> Mapping[str, str | None]:
        prefix = self.env_prefix.lower()
        loaded = super()._load_env_vars()
        return {name: value for name, value in loaded.items() if name.startswith(prefix)}

    def __call__(self) -> dict[str, Any]:
        try:
            self._checker()
        except ConfigError as exc:
            raise ConfigError(f"{exc.key} in {self.path}", exc.value, exc.reason) from None
        return super().__call__()

    def origin(self, path: tuple[str, ...]) -> str | None:
        """The variable in the file that set ``path``, if any."""
        name = self._checker.origin(path)
        return None if name is None else f"{name} in {self.path}"


def _read_config(path: Path, kind: str, load: Callable[[bytes], Any]) -> Any:
    """The document in settings file ``path``, within the size and depth limits; else one line."""
    try:
        return load(read_limited(path, max_bytes=MAX_TEXT))
    except OSError as exc:
        raise ConfigError("config", str(path), f"cannot read it: {exc}") from exc
    except LoadError as exc:
        raise ConfigError("config", str(path), f"not valid {kind}: {exc}") from None


class _TomlFileSource(InitSettingsSource):
    """A TOML settings file in our schema."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path) -> None:
        self.path = path
        data = _read_config(
            path, "TOML", lambda text: load_toml(text, max_chars=MAX_TEXT, max_depth=MAX_DEPTH)
        )
        super().__init__(settings_cls, data)

    def origin(self, path: tuple[str, ...]) -> str | None:
        """The file, if it set ``path``."""
        return str(self.path) if lookup(self.init_kwargs, path) is not None else None


class _YamlPlanSource(InitSettingsSource):
    """A YAML settings file, in our schema or in the plan's (see :func:`plan_config_to_settings`)."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path) -> None:
        self.path = path
        data = _read_config(
            path,
            "YAML",
            lambda text: load_yaml(
                text, max_chars=MAX_TEXT, max_depth=MAX_DEPTH, max_nodes=_MAX_YAML_NODES
            ),
        )
        if data is not None and not isinstance(data, Mapping):
            raise ConfigError("config", str(path), "a YAML config must be a mapping of sections")
        super().__init__(settings_cls, plan_config_to_settings(data or {}))

    def origin(self, path: tuple[str, ...]) -> str | None:
        """The file, if it set ``path``."""
        return str(self.path) if lookup(self.init_kwargs, path) is not None else None


def _file_source(settings_cls: type[BaseSettings], path: Path) -> _TomlFileSource | _YamlPlanSource:
    suffix = path.suffix.lower()
    if suffix == ".toml":
        return _TomlFileSource(settings_cls, path)
    if suffix in {".yaml", ".yml"}:
        return _YamlPlanSource(settings_cls, path)
    raise ConfigError("config", str(path), "must be a .toml, .yaml or .yml file")


# --- loading -----------------------------------------------------------------------------------

_Source = _MappingEnvSource | _DotEnvSource | _TomlFileSource | _YamlPlanSource


def load_settings(
    *,
    config_file: Path | None = None,
    overrides: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
    env_file: Path | None = DEFAULT_ENV_FILE,
) -> Settings:
    """Load and validate the settings from every source; raise :class:`ConfigError` if any is bad.

    ``config_file`` is ``--config`` (it must exist); without it ``settings.toml`` is read if present.
    ``overrides`` maps dotted keys to raw text (the flags). ``environ`` defaults to ``os.environ``;
    ``env_file`` to ``.env`` (skipped when absent, or when None).
    """
    if config_file is not None and not config_file.is_file():
        raise ConfigError("config", str(config_file), "no such file")
    settings_file = config_file if config_file is not None else DEFAULT_CONFIG_FILE
    used_files = [path for path in (settings_file, env_file) if path is not None and path.is_file()]

    sources: list[_Source] = [
        _FlagsSource(Settings, overrides or {}),
        _MappingEnvSource(Settings, os.environ if environ is None else environ),
    ]
    if env_file is not None and env_file.is_file():
        sources.append(_DotEnvSource(Settings, env_file))
    if settings_file.is_file():
        sources.append(_file_source(Settings, settings_file))

    class _Loading(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            del settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings
            return tuple(sources)

    try:
        loaded = _Loading()
    except ValidationError as exc:
        raise _config_error(exc, sources) from None
    settings = Settings(**dict(loaded))
    settings._source_files = tuple(used_files)  # the loader is the one writer of this record
    return settings


# --- error translation -------------------------------------------------------------------------


class _Shown:
    """A stand-in for a value the one-line error cannot show as is (missing, or too long)."""

    __slots__ = ("_text",)

    def __init__(self, text: str) -> None:
        self._text = text

    def __repr__(self) -> str:
        return self._text


_MISSING = _Shown("(missing)")
_LONGEST_SHOWN = 100
# Shows the start of a value of any size or depth in bounded time (a YAML alias bomb's value would
# take minutes to repr() in full).
_REPR = reprlib.Repr()
_REPR.maxlevel = 3
_REPR.maxdict = _REPR.maxlist = _REPR.maxtuple = _REPR.maxset = 10
_REPR.maxstring = _REPR.maxlong = _REPR.maxother = _LONGEST_SHOWN


def _short(text: str) -> str:
    return text if len(text) <= _LONGEST_SHOWN else text[: _LONGEST_SHOWN - 3] + "..."


def _shown(value: object) -> object:
    """``value`` itself when its repr is short, else a stand-in showing how it starts."""
    if isinstance(value, str):
        text = repr(value[:_LONGEST_SHOWN])
        fits = len(value) <= _LONGEST_SHOWN and len(text) <= _LONGEST_SHOWN
    else:
        try:
            text = _REPR.repr(value)
        except ValueError:  # an int with more digits than Python turns into text
            text = f"<a {type(value).__name__} too long to show>"
        fits = len(text) <= _LONGEST_SHOWN and isinstance(value, int | float | bool | None)
    return value if fits else _Shown(_short(text))


def _config_error(exc: ValidationError, sources: list[_Source]) -> ConfigError:
    errors = exc.errors(include_url=False)
    first = errors[0]
    loc: tuple[str | int, ...] = tuple(first["loc"])
    value: object = first.get("input")
    reason = _reason(first, loc)
    cause = first.get("ctx", {}).get("error")
    if isinstance(cause, CrossFieldError):
        loc = (*loc, cause.field)
        value, reason = cause.value, cause.reason
    key = _dotted(loc)
    head = tuple(_leading_names(loc))
    if _hidden(first["type"], head):
        value = REDACTED
    shown = _MISSING if first["type"] == "missing" else _shown(value)
    origin = next((found for source in sources if (found := source.origin(head))), None)
    if origin is not None:
        reason += f" (set by {origin})"
    if len(errors) > 1:
        more = len(errors) - 1
        reason += f" (and {more} more invalid setting{'s' if more > 1 else ''})"
    return ConfigError(key, shown, reason)


def _hidden(kind: str, head: tuple[str, ...]) -> bool:
    """True when an error must not show the value: a secret, or an unknown setting (maybe one)."""
    return (
        kind == "extra_forbidden"
        or head in secret_paths(Settings)
        or any(word in name.lower() for name in head for word in _SECRET_WORDS)
    )


def _leading_names(loc: tuple[str | int, ...]) -> list[str]:
    names: list[str] = []
    for part in loc:
        if not isinstance(part, str):
            break
        names.append(part)
    return names


def _dotted(loc: tuple[str | int, ...]) -> str:
    key = ""
    for part in loc:
        key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else part)
    return key


def _known_sections() -> str:
    return "sections are " + ", ".join(sorted(Settings.model_fields))


def _reason(error: Any, loc: tuple[str | int, ...]) -> str:
    kind: str = error["type"]
    ctx: dict[str, Any] = error.get("ctx", {})
    simple = {
        "missing": "is required",
        "int_parsing": "must be a whole number",
        "int_type": "must be a whole number",
        "int_from_float": "must be a whole number",
        "float_parsing": "must be a number",
        "float_type": "must be a number",
        "bool_parsing": "must be true or false",
        "bool_type": "must be true or false",
        "string_type": "must be text",
        "list_type": "must be a list",
        "dict_type": "must be a table",
        "model_type": "must be a table",
        "model_attributes_type": "must be a table",
        "path_type": "must be a file path",
    }
    datetimes = {"datetime_parsing", "datetime_from_date_parsing", "datetime_type"}
    bounds = {
        "less_than_equal": ("<=", "le"),
        "less_than": ("<", "lt"),
        "greater_than_equal": (">=", "ge"),
        "greater_than": (">", "gt"),
    }
    if kind in simple:
        return simple[kind]
    if kind in datetimes:
        detail = f": {ctx['error']}" if "error" in ctx else ""
        return f"must be an ISO 8601 date-time with a timezone (e.g. 2024-01-02T14:30:00Z){detail}"
    if kind in bounds:
        symbol, name = bounds[kind]
        return f"must be {symbol} {ctx[name]}"
    if kind in {"literal_error", "enum"}:
        return f"must be {ctx['expected']}"
    if kind == "extra_forbidden":
        return "unknown setting; " + _known_keys(loc[:-1])
    if kind in {"value_error", "assertion_error"} and "error" in ctx:
        return str(ctx["error"])
    message: str = error["msg"]
    return message[:1].lower() + message[1:]


def _known_keys(parent: tuple[str | int, ...]) -> str:
    model: type[BaseModel] = Settings
    for part in parent:
        if isinstance(part, int):
            continue
        annotation = model.model_fields[part].annotation
        args = typing.get_args(annotation)
        inner = args[0] if typing.get_origin(annotation) is list and args else annotation
        if not (inspect.isclass(inner) and issubclass(inner, BaseModel)):
            return "it takes no keys"
        model = inner
    if model is Settings:
        return _known_sections()
    return f"{_dotted(parent)} has " + ", ".join(model.model_fields)
