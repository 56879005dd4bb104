"""ibbot's settings: one validated, immutable :class:`Settings` object, loaded once at the edge.

Sources, highest precedence first (each level overrides only the keys it sets):

1. command-line flags: ``--set SECTION.KEY=VALUE``, ``--log-level``, ``--log-format``;
2. environment variables ``IBBOT_<SECTION>__<KEY>`` (e.g. ``IBBOT_IB__PORT=4002``);
3. the ``.env`` file in the working directory (same names; other variables in it are ignored);
4. ``settings.toml`` in the working directory, or the file given with ``--config`` (TOML, or YAML in the
   schema of the user's plan: ``ibkr``, ``data_store``, ``collector``, ``strategies``);
5. the defaults below.

Values from environment variables and flags are text: numbers and booleans parse as usual, list
settings take a JSON list or comma-separated words (``AAPL,MSFT``), tables take JSON. Every
``IBBOT_`` variable must name a setting, so a typo is an error rather than silently ignored.

:func:`load_settings` is the only loader; it raises :class:`~ibbot.errors.ConfigError` naming the dotted
key, the bad value, why it is bad and which source set it. ``Settings(...)`` on its own reads nothing
from the environment: tests and library callers build exactly the settings they pass.

Secrets (IB account ids, and any password, token or contact address added later) are string fields
annotated with :data:`SECRET` (``token: Annotated[str, SECRET] = ""``); ``ibbot config show`` masks
them, errors never echo them, and the CLI hands their values to the log redactor.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import re
import tomllib
import typing
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)
from pydantic_settings.sources import InitSettingsSource

from ibbot.errors import ConfigError
from ibbot.models.market import BarSize, WhatToShow

__all__ = [
    "DEFAULT_CONFIG_FILE",
    "DEFAULT_ENV_FILE",
    "ENV_PREFIX",
    "REDACTED",
    "SECRET",
    "CollectorSettings",
    "IbSettings",
    "LogFormat",
    "LogLevel",
    "LoggingSettings",
    "RiskSettings",
    "Settings",
    "SimSettings",
    "StoreSettings",
    "StrategySettings",
    "import_class",
    "is_paper_account",
    "load_settings",
    "parse_override",
    "plan_config_to_settings",
    "redacted_dump",
]

ENV_PREFIX = "IBBOT_"
_ENV_DELIMITER = "__"
REDACTED = "<redacted>"
DEFAULT_CONFIG_FILE = Path("settings.toml")
DEFAULT_ENV_FILE = Path(".env")

# IB paper-trading account ids start with "DU"; live ones ("U...", "F...", ...) move real money.
_PAPER_ACCOUNT_PREFIX = "DU"
# IB's fundamental report types (reqFundamentalData). CalendarReport needs a Wall Street Horizon
# subscription; the others need the free Fundamentals subscription.
_REPORT_TYPES = (
    "CalendarReport",
    "RESC",
    "ReportRatios",
    "ReportSnapshot",
    "ReportsFinStatements",
    "ReportsFinSummary",
    "ReportsOwnership",
)
_SYMBOL = re.compile(r"[A-Z0-9][A-Z0-9.\-]*")
_STRATEGY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")
# IB's durationStr: an integer count and a unit (Seconds, Days, Weeks, Months, Years).
_DURATION = re.compile(r"\s*([0-9]+)\s*([SDWMY])\s*", re.IGNORECASE)
_NONE_WORDS = frozenset({"", "none", "off"})


class _SecretMarker:
    """Annotation metadata marking a setting whose value must never be shown or logged."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "SECRET"


SECRET = _SecretMarker()
"""Put in ``Annotated[str, SECRET]`` to make a setting secret (masked by ``config show`` and the logs)."""


def is_paper_account(account: str) -> bool:
    """True for an IB paper-trading account id (they start with ``DU``)."""
    return account.startswith(_PAPER_ACCOUNT_PREFIX)


def import_class(class_path: str) -> type[Any]:
    """Import ``package.module.ClassName`` and return the class; ``ValueError`` says what failed."""
    module_name, _, class_name = class_path.rpartition(".")
    if not module_name or not class_name:
        raise ValueError("must be a dotted path 'package.module.ClassName'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"cannot import module {module_name!r}: {exc}") from exc
    except Exception as exc:  # any failure inside a user's module makes the class_path unusable
        raise ValueError(f"importing {module_name!r} failed: {type(exc).__name__}: {exc}") from exc
    found = getattr(module, class_name, None)
    if found is None:
        raise ValueError(f"module {module_name!r} has no attribute {class_name!r}")
    if not inspect.isclass(found):
        raise ValueError(f"{class_path!r} is not a class")
    return found


# --- field types -------------------------------------------------------------------------------


def _words(value: Any) -> Any:
    """Let list settings come from env vars and flags as JSON lists or comma-separated words."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("["):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not a valid JSON list: {exc}") from exc
    return [word.strip() for word in text.split(",") if word.strip()]


def _json_table(value: Any) -> Any:
    """Let table settings come from env vars and flags as JSON."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON: {exc}") from exc


def _none_word(value: Any) -> Any:
    """Accept ``""``, ``"none"`` and ``"off"`` as "not set" (TOML and env vars have no null)."""
    if isinstance(value, str) and value.strip().lower() in _NONE_WORDS:
        return None
    return value


def _check_symbol(symbol: str) -> str:
    if not _SYMBOL.fullmatch(symbol):
        raise ValueError(
            "must be an uppercase symbol of letters A-Z, digits, '.' or '-' (e.g. 'BRK.B')"
        )
    return symbol


def _check_unique(values: list[str]) -> list[str]:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"{value!r} is listed twice")
        seen.add(value)
    return values


def _parse_bar_size(value: Any) -> Any:
    return BarSize.parse(value) if isinstance(value, str) else value


def _upper(value: Any) -> Any:
    return value.strip().upper() if isinstance(value, str) else value


def _check_duration(value: str) -> str:
    match = _DURATION.fullmatch(value)
    if match is None or int(match[1]) <= 0:
        raise ValueError(
            "must be IB's durationStr: a positive count and a unit S, D, W, M or Y (e.g. '2 D')"
        )
    return f"{int(match[1])} {match[2].upper()}"


def _check_account(value: str) -> str:
    if not value.isalnum() and value:
        raise ValueError("an IB account id has only letters and digits (e.g. DU1234567)")
    return value


def _check_report_type(value: str) -> str:
    if value not in _REPORT_TYPES:
        raise ValueError(f"must be one of IB's report types: {', '.join(_REPORT_TYPES)}")
    return value


def _check_not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.utcoffset() is None:
        raise ValueError("must include a timezone (e.g. 2024-01-02T14:30:00Z)")
    return None if value is None else value.astimezone(UTC)


Symbol = Annotated[str, AfterValidator(_check_symbol)]
SymbolList = Annotated[list[Symbol], BeforeValidator(_words), AfterValidator(_check_unique)]
AccountId = Annotated[str, AfterValidator(_check_account), SECRET]
Host = Annotated[str, AfterValidator(_check_not_blank)]
Port = Annotated[int, Field(ge=1, le=65_535)]
ListenPort = Annotated[int, Field(ge=0, le=65_535)]  # 0 asks the OS for a free port
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
LogFormat = Literal["auto", "console", "json"]


class _Section(BaseModel):
    """A settings section: immutable, and an unknown key is an error (a typo never goes unnoticed)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# --- sections ----------------------------------------------------------------------------------


class IbSettings(_Section):
    """How to reach TWS / IB Gateway, and what ibbot may do there."""

    host: Host = "127.0.0.1"
    port: Port = 4002
    client_id: Annotated[int, Field(ge=0, le=2**31 - 1)] = 1
    connect_timeout: Annotated[float, Field(gt=0)] = 15.0
    request_timeout: Annotated[float, Field(gt=0)] = 30.0
    simulate: bool = True
    account: AccountId = ""
    readonly: bool = False
    allow_live_trading: bool = False
    reconnect_initial_delay: Annotated[float, Field(gt=0)] = 1.0
    reconnect_max_delay: Annotated[float, Field(gt=0)] = 60.0

    @model_validator(mode="after")
    def _delays_ordered(self) -> IbSettings:
        if self.reconnect_max_delay < self.reconnect_initial_delay:
            raise _FieldError(
                "reconnect_max_delay",
                self.reconnect_max_delay,
                f"must be >= reconnect_initial_delay ({self.reconnect_initial_delay})",
            )
        return self

    @model_validator(mode="after")
    def _live_account_needs_consent(self) -> IbSettings:
        if (
            self.account
            and not is_paper_account(self.account)
            and not self.allow_live_trading
            and not self.readonly
        ):
            raise _FieldError(
                "account",
                REDACTED,
                "is a live (non-paper) account; set ib.allow_live_trading=true to trade it "
                "or ib.readonly=true to only collect data",
            )
        return self


class StoreSettings(_Section):
    """Where collected data, state and the audit trail are kept."""

    backend: Literal["parquet"] = "parquet"
    path: Path = Path("data")


class CollectorSettings(_Section):
    """What market and fundamental data to collect."""

    watchlist: SymbolList = Field(
        default_factory=lambda: ["AAPL", "MSFT", "GOOGL", "AMZN", "JPM", "XOM", "KO", "WMT"]
    )
    bar_size: Annotated[BarSize, BeforeValidator(_parse_bar_size)] = BarSize.MIN_1
    history_duration: Annotated[str, AfterValidator(_check_duration)] = "2 D"
    what_to_show: Annotated[WhatToShow, BeforeValidator(_upper)] = WhatToShow.TRADES
    use_rth: bool = True
    market_data: bool = True
    fundamental_refresh_hours: Annotated[float, Field(gt=0)] = 24.0
    report_types: Annotated[
        list[Annotated[str, AfterValidator(_check_report_type)]],
        BeforeValidator(_words),
        AfterValidator(_check_unique),
    ] = Field(default_factory=lambda: ["ReportSnapshot", "ReportsFinStatements"])


class RiskSettings(_Section):
    """Limits the risk gate enforces on every order; fractions are of a strategy's allocated capital."""

    max_position_pct: Annotated[float, Field(gt=0, le=1)] = 0.25
    max_order_notional: Annotated[float, Field(gt=0)] = 25_000.0
    max_open_orders: Annotated[int, Field(ge=1)] = 10
    daily_loss_limit_pct: Annotated[float, Field(gt=0, le=1)] = 0.05
    min_order_notional: Annotated[float, Field(ge=0)] = 100.0
    kill_switch_file: Path = Path("data/KILL_SWITCH")
    cancel_open_orders_on_kill: bool = True
    on_reconciliation_mismatch: Literal["halt_symbol", "adopt_broker", "ignore"] = "halt_symbol"

    @model_validator(mode="after")
    def _notional_bounds_ordered(self) -> RiskSettings:
        if self.min_order_notional > self.max_order_notional:
            raise _FieldError(
                "min_order_notional",
                self.min_order_notional,
                f"must be <= max_order_notional ({self.max_order_notional})",
            )
        return self


class StrategySettings(_Section):
    """One configured strategy: which class runs it, with how much capital, and its parameters."""

    name: str
    class_path: str
    allocated_capital: Annotated[float, Field(gt=0)]
    enabled: bool = True
    params: Annotated[dict[str, Any], BeforeValidator(_json_table)] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _name_is_safe(cls, name: str) -> str:
        # The name goes into IB's orderRef ("name:decision_id") and into file names under data/.
        if not _STRATEGY_NAME.fullmatch(name):
            raise ValueError(
                "must start with a letter or digit and use only letters, digits, '_', '.', '-'"
            )
        return name

    @field_validator("class_path")
    @classmethod
    def _class_imports(cls, class_path: str) -> str:
        import_class(class_path)
        return class_path

    def load_class(self) -> type[Any]:
        """The strategy class named by :attr:`class_path`."""
        return import_class(self.class_path)


class LoggingSettings(_Section):
    """How much to log and how to render it (``auto``: coloured console on a terminal, JSON otherwise)."""

    level: Annotated[LogLevel, BeforeValidator(_upper)] = "INFO"
    format: LogFormat = "auto"


class SimSettings(_Section):
    """The embedded simulated IB Gateway (used when ``ib.simulate`` is true, and by ``ibbot sim``)."""

    seed: Annotated[int, Field(ge=0)] = 42
    time_scale: Annotated[float, Field(gt=0)] = 1.0
    start: Annotated[datetime | None, BeforeValidator(_none_word), AfterValidator(_aware)] = None
    symbols: SymbolList = Field(default_factory=list)
    host: Host = "127.0.0.1"
    port: ListenPort = 0
    control_port: Annotated[ListenPort | None, BeforeValidator(_none_word)] = 0
    unavailable_fundamentals: Annotated[
        list[Annotated[str, AfterValidator(_check_not_blank)]], BeforeValidator(_words)
    ] = Field(default_factory=list)
    starting_cash: Annotated[float, Field(gt=0)] = 1_000_000.0
    slippage_bps: Annotated[float, Field(ge=0)] = 1.0
    account: Annotated[AccountId, AfterValidator(_check_not_blank)] = "DU1234567"


# --- the whole -----------------------------------------------------------------------------------


class Settings(BaseSettings):
    """Every setting of ibbot, validated. Build it with :func:`load_settings` at the program's edge."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=_ENV_DELIMITER,
        case_sensitive=False,
        # Values from env vars and flags are decoded by the field validators (JSON or word lists), so a
        # bad value becomes a validation error naming its key rather than a parser crash.
        enable_decoding=False,
        extra="forbid",
        frozen=True,
    )

    ib: IbSettings = Field(default_factory=IbSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    collector: CollectorSettings = Field(default_factory=CollectorSettings)
    risk: RiskSettings = Field(default_factory=RiskSettings)
    strategies: list[StrategySettings] = Field(default_factory=list)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    sim: SimSettings = Field(default_factory=SimSettings)

    _source_files: tuple[Path, ...] = PrivateAttr(default=())

    @field_validator("*", mode="before")
    @classmethod
    def _decode_json(cls, value: Any) -> Any:
        # A whole section (or the strategy list) may come from one env var, as JSON.
        return _json_table(value)

    @field_validator("strategies")
    @classmethod
    def _unique_names(cls, strategies: list[StrategySettings]) -> list[StrategySettings]:
        _check_unique([strategy.name for strategy in strategies])
        return strategies

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Only the constructor's arguments: reading the outside world is :func:`load_settings`' job."""
        del settings_cls, env_settings, dotenv_settings, file_secret_settings
        return (init_settings,)

    @property
    def source_files(self) -> tuple[Path, ...]:
        """The settings files :func:`load_settings` read, lowest precedence first."""
        return self._source_files

    def secret_values(self) -> frozenset[str]:
        """The non-empty values of every secret setting (for the log redactor)."""
        dumped = self.model_dump(mode="json")
        return frozenset(
            value
            for path in _secret_paths(type(self))
            if isinstance(value := _get_path(dumped, path), str) and value
        )


def redacted_dump(settings: Settings) -> dict[str, Any]:
    """``settings`` as JSON-ready data with every non-empty secret replaced by :data:`REDACTED`."""
    dumped = settings.model_dump(mode="json")
    for path in _secret_paths(type(settings)):
        *parents, leaf = path
        table = _get_path(dumped, tuple(parents))
        if isinstance(table, dict) and table.get(leaf):
            table[leaf] = REDACTED
    return dumped


def _secret_paths(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths: list[tuple[str, ...]] = []
    for name, field in model.model_fields.items():
        path = (*prefix, name)
        if SECRET in field.metadata:
            paths.append(path)
        elif inspect.isclass(field.annotation) and issubclass(field.annotation, BaseModel):
            paths.extend(_secret_paths(field.annotation, path))
    return paths


def _get_path(data: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        if not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data


class _FieldError(ValueError):
    """A cross-field rule broken by one field: lets the error name that field, not the section."""

    def __init__(self, field: str, value: object, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(f"{field}: {reason}")


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
            raise ConfigError(section, _shown(value), f"given twice (as {key!r} and {section!r})")
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
        for name, value in self.env_vars.items():
            section = name.removeprefix(prefix).split(_ENV_DELIMITER, 1)[0]
            if section not in self.settings_cls.model_fields:
                raise ConfigError(
                    self.describe(name), _shown(value), f"unknown setting; {_known_sections()}"
                )
        return super().__call__()

    def describe(self, name: str) -> str:
        """How a user names variable ``name`` (lower-cased by the source) in this source."""
        return name.upper()

    def origin(self, path: tuple[str, ...]) -> str | None:
        """The variable that set ``path`` (most specific first), if this source set it."""
        prefix = self.env_prefix.lower()
        for depth in range(len(path), 0, -1):
            name = prefix + _ENV_DELIMITER.join(path[:depth])
            if name in self.env_vars:
                return self.describe(name)
        return None


class _FlagsSource(_MappingEnvSource):
    """``--set SECTION.KEY=VALUE`` and the logging flags, parsed exactly like env vars."""

    def __init__(self, settings_cls: type[BaseSettings], overrides: Mapping[str, str]) -> None:
        variables = {
            ENV_PREFIX + key.replace(".", _ENV_DELIMITER): value for key, value in overrides.items()
        }
        super().__init__(settings_cls, variables)

    def describe(self, name: str) -> str:
        return "--set " + name.removeprefix(self.env_prefix.lower()).replace(_ENV_DELIMITER, ".")


class _DotEnvSource(DotEnvSettingsSource):
    """The ``.env`` file: only its ``IBBOT_`` variables (it may hold other tools' variables too)."""

    def __init__(self, settings_cls: type[BaseSettings], env_file: Path) -> None:
        self.path = env_file
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


class _TomlFileSource(TomlConfigSettingsSource):
    """A TOML settings file in our schema."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path) -> None:
        self.path = path
        try:
            super().__init__(settings_cls, toml_file=path)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError("config", str(path), f"not valid TOML: {exc}") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError("config", str(path), f"cannot read it: {exc}") from exc

    def origin(self, path: tuple[str, ...]) -> str | None:
        """The file, if it set ``path``."""
        return str(self.path) if _get_path(self.init_kwargs, path) is not None else None


class _YamlPlanSource(InitSettingsSource):
    """A YAML settings file, in our schema or in the plan's (see :func:`plan_config_to_settings`)."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path) -> None:
        import yaml  # noqa: PLC0415 - only YAML configs pay for the YAML parser

        self.path = path
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ConfigError("config", str(path), f"not valid YAML: {_one_line(exc)}") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError("config", str(path), f"cannot read it: {exc}") from exc
        if data is not None and not isinstance(data, Mapping):
            raise ConfigError("config", str(path), "a YAML config must be a mapping of sections")
        super().__init__(settings_cls, plan_config_to_settings(data or {}))

    def origin(self, path: tuple[str, ...]) -> str | None:
        """The file, if it set ``path``."""
        return str(self.path) if _get_path(self.init_kwargs, path) is not None else None


def _file_source(settings_cls: type[BaseSettings], path: Path) -> _TomlFileSource | _YamlPlanSource:
    suffix = path.suffix.lower()
    if suffix == ".toml":
        return _TomlFileSource(settings_cls, path)
    if suffix in {".yaml", ".yml"}:
        return _YamlPlanSource(settings_cls, path)
    raise ConfigError("config", str(path), "must be a .toml, .yaml or .yml file")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


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
    settings._source_files = tuple(used_files)
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


def _shown(value: object) -> object:
    text = repr(value)
    return value if len(text) <= _LONGEST_SHOWN else _Shown(text[: _LONGEST_SHOWN - 3] + "...")


def _config_error(exc: ValidationError, sources: list[_Source]) -> ConfigError:
    errors = exc.errors(include_url=False)
    first = errors[0]
    loc: tuple[str | int, ...] = tuple(first["loc"])
    value: object = first.get("input")
    reason = _reason(first, loc)
    cause = first.get("ctx", {}).get("error")
    if isinstance(cause, _FieldError):
        loc = (*loc, cause.field)
        value, reason = cause.value, cause.reason
    key = _dotted(loc)
    head = tuple(_leading_names(loc))
    if head in _secret_paths(Settings):
        value = REDACTED
    shown = _MISSING if first["type"] == "missing" else _shown(value)
    origin = next((found for source in sources if (found := source.origin(head))), None)
    if origin is not None:
        reason += f" (set by {origin})"
    if len(errors) > 1:
        more = len(errors) - 1
        reason += f" (and {more} more invalid setting{'s' if more > 1 else ''})"
    return ConfigError(key, shown, reason)


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
