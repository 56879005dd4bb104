"""The settings schema: every section and field, their rules, and which fields are secret.

Loading from files, env vars and flags is :mod:`ibbot.settings.loading`'s job; this module only says
what valid settings are.
"""

from __future__ import annotations

import inspect
import ipaddress
import re
import sys
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
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from ibbot.models.market import BarSize, WhatToShow
from ibbot.safeload import LoadError, load_json
from ibbot.strategies.sources import (
    SHIPPED_PACKAGE,
    USER_STRATEGIES,
    StrategySources,
    is_module_name,
)

__all__ = [
    "DEFAULT_STORE",
    "ENV_DELIMITER",
    "ENV_PREFIX",
    "MAX_DEPTH",
    "MAX_TEXT",
    "REDACTED",
    "SECRET",
    "AppSettings",
    "CollectorSettings",
    "CrossFieldError",
    "FundamentalsSettings",
    "IbSettings",
    "LogFormat",
    "LogLevel",
    "LoggingSettings",
    "NotifyEvent",
    "NotifySettings",
    "RiskSettings",
    "Settings",
    "SimSettings",
    "StoreSettings",
    "StrategySettings",
    "default_store_path",
    "is_paper_account",
    "lookup",
    "redacted_dump",
    "secret_paths",
]

DEFAULT_STORE = Path("data")
"""The root of the default stores (see :func:`default_store_path`), relative to the working directory."""
ENV_PREFIX = "IBBOT_"
ENV_DELIMITER = "__"
REDACTED = "<redacted>"
MAX_TEXT = 1 << 20
"""The longest settings file or JSON value accepted, in bytes (characters for a value)."""
MAX_DEPTH = 32
"""How deep settings may nest (a strategy's params included); deeper input is refused unparsed."""

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
# The SEC's fair-access policy asks automated clients to declare who they are in the User-Agent, with a
# contact address ("Sample Company Name AdminContact@samplecompany.com"); requests without one get 403.
_CONTACT = re.compile(r"\S+@\S+\.\S+")


class _SecretMarker:
    """Annotation metadata marking a setting whose value must never be shown or logged."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "SECRET"


SECRET = _SecretMarker()
"""Put in ``Annotated[str, SECRET]`` to make a setting secret (masked by ``config show`` and the logs)."""


class CrossFieldError(ValueError):
    """A cross-field rule broken by one field: lets the error name that field, not the section."""

    def __init__(self, field: str, value: object, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(f"{field}: {reason}")


def is_paper_account(account: str) -> bool:
    """True for an IB paper-trading account id (they start with ``DU``)."""
    return account.startswith(_PAPER_ACCOUNT_PREFIX)


# --- field types -------------------------------------------------------------------------------


def _words(value: Any) -> Any:
    """Let list settings come from env vars and flags as JSON lists or comma-separated words."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("["):
        try:
            return load_json(text, max_chars=MAX_TEXT, max_depth=MAX_DEPTH)
        except LoadError as exc:
            raise ValueError(f"not a valid JSON list: {exc}") from None
    return [word.strip() for word in text.split(",") if word.strip()]


def _json_table(value: Any) -> Any:
    """Let table settings come from env vars and flags as JSON."""
    if not isinstance(value, str):
        return value
    try:
        return load_json(value, max_chars=MAX_TEXT, max_depth=MAX_DEPTH)
    except LoadError as exc:
        raise ValueError(f"not valid JSON: {exc}") from None


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


def _check_http_url(value: str) -> str:
    text = value.strip().rstrip("/")
    if not re.fullmatch(r"https?://[^\s/]+(/\S*)?", text):
        raise ValueError("must be an http:// or https:// URL (e.g. 'https://data.sec.gov')")
    return text


def _check_ip_address(value: str) -> str:
    try:
        address = ipaddress.IPv4Address(value.strip())
    except ValueError:
        raise ValueError("must be an IPv4 address (e.g. 127.0.0.1, or 0.0.0.0 for all)") from None
    return str(address)


def _check_clock_time(value: str | None) -> str | None:
    if value is None:
        return None
    match = re.fullmatch(r"([01]?[0-9]|2[0-3]):([0-5][0-9])", value.strip())
    if match is None:
        raise ValueError("must be a time of day HH:MM (24-hour), or 'off'")
    return f"{int(match[1]):02d}:{match[2]}"


def _check_strategy_package(name: str) -> str:
    if not is_module_name(name):
        raise ValueError("must be a dotted package name of Python names (e.g. 'my_strategies')")
    top = name.partition(".")[0]
    if top == SHIPPED_PACKAGE.partition(".")[0]:
        raise ValueError(
            f"ibbot's own strategies ({SHIPPED_PACKAGE}) are always allowed, nothing else of it"
        )
    if top in sys.stdlib_module_names:
        raise ValueError(f"{top!r} is part of Python's standard library, not a strategy package")
    return name


def _check_directory(path: Path) -> Path:
    # The conventional directory may not exist yet: `ibbot strategies new` creates it.
    if not path.is_dir() and not (path == USER_STRATEGIES and not path.exists()):
        raise ValueError("must be an existing directory of strategy .py files")
    return path


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.utcoffset() is None:
        raise ValueError("must include a timezone (e.g. 2024-01-02T14:30:00Z)")
    return None if value is None else value.astimezone(UTC)


Symbol = Annotated[str, AfterValidator(_check_symbol)]
SymbolList = Annotated[list[Symbol], BeforeValidator(_words), AfterValidator(_check_unique)]
AccountId = Annotated[str, AfterValidator(_check_account), SECRET]
Host = Annotated[str, AfterValidator(_check_not_blank)]
HttpUrl = Annotated[str, AfterValidator(_check_http_url)]
Port = Annotated[int, Field(ge=1, le=65_535)]
ListenPort = Annotated[int, Field(ge=0, le=65_535)]  # 0 asks the OS for a free port
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
FundamentalsSourceName = Literal["ib", "sec"]
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
    strict_pacing: bool = False

    @model_validator(mode="after")
    def _delays_ordered(self) -> IbSettings:
        if self.reconnect_max_delay < self.reconnect_initial_delay:
            raise CrossFieldError(
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
            raise CrossFieldError(
                "account",
                REDACTED,
                "is a live (non-paper) account; set ib.allow_live_trading=true to trade it "
                "or ib.readonly=true to only collect data",
            )
        return self


class StoreSettings(_Section):
    """Where collected data, state and the audit trail are kept.

    ``path`` left unset depends on the world ibbot talks to (see :func:`default_store_path`): each
    world keeps a store of its own (:mod:`ibbot.store.world`). ``backend = "postgres"`` keeps the
    store in the PostgreSQL database ``dsn`` names (a secret: it may hold a password) instead;
    ``password_file`` (a Docker secret) supplies the password when the DSN has none; ``path``
    then still holds the files that are no store data (reports, the SEC cache).
    """

    backend: Literal["parquet", "postgres"] = "parquet"
    path: Path = DEFAULT_STORE
    dsn: Annotated[str, SECRET] = ""
    password_file: str = ""

    @model_validator(mode="after")
    def _postgres_needs_a_dsn(self) -> StoreSettings:
        if self.backend == "postgres" and not self.dsn:
            raise CrossFieldError(
                "dsn",
                REDACTED,
                'is required with store.backend = "postgres" (e.g. '
                "postgresql://ibbot@db:5432/ibbot, or the env var IBBOT_STORE__DSN)",
            )
        if self.dsn and not self.dsn.strip().startswith(("postgresql://", "postgres://")):
            raise CrossFieldError(
                "dsn", REDACTED, "must be a postgresql:// URL (postgresql://USER:PASSWORD@HOST/DB)"
            )
        return self


def default_store_path(*, simulate: bool, seed: int) -> Path:
    """``data/sim-<seed>`` for the embedded simulator, ``data`` for a gateway."""
    return DEFAULT_STORE / f"sim-{seed}" if simulate else DEFAULT_STORE


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


class FundamentalsSettings(_Section):
    """Where company fundamentals come from, in priority order, and how the SEC source behaves.

    ``sources`` lists the sources to try for each symbol, first that answers wins: ``"ib"`` (IB's
    ``reqFundamentalData``, de-supported from TWS API 10.47) and ``"sec"`` (SEC EDGAR XBRL company
    facts, US issuers). Using ``"sec"`` requires ``sec_user_agent``: a name and a contact e-mail the
    SEC can reach (its fair-access policy); it is treated as a secret.
    """

    sources: Annotated[
        list[FundamentalsSourceName], BeforeValidator(_words), AfterValidator(_check_unique)
    ] = Field(default_factory=lambda: list[FundamentalsSourceName](["ib"]), min_length=1)
    sec_user_agent: Annotated[str, SECRET] = ""
    sec_base_url: HttpUrl = "https://data.sec.gov"
    sec_www_url: HttpUrl = "https://www.sec.gov"
    sec_cache_dir: Path = Path("data/sec-cache")
    # The SEC allows at most 10 requests per second per user, across all its hosts.
    sec_max_requests_per_second: Annotated[int, Field(ge=1, le=10)] = 10
    sec_revalidate_hours: Annotated[float, Field(gt=0)] = 12.0
    sec_request_timeout: Annotated[float, Field(gt=0)] = 30.0
    sec_max_attempts: Annotated[int, Field(ge=1, le=10)] = 5

    @field_validator("sec_user_agent")
    @classmethod
    def _user_agent_has_contact(cls, value: str) -> str:
        value = value.strip()
        if value and not _CONTACT.search(value):
            raise ValueError(
                "must name you and give a contact e-mail, e.g. 'Jane Doe jane@example.com' "
                "(the SEC's fair-access policy)"
            )
        return value

    @model_validator(mode="after")
    def _sec_needs_user_agent(self) -> FundamentalsSettings:
        if "sec" in self.sources and not self.sec_user_agent:
            raise CrossFieldError(
                "sec_user_agent",
                "",
                "is required when 'sec' is in fundamentals.sources: a name and contact e-mail "
                "for the SEC's fair-access policy, e.g. 'Jane Doe jane@example.com'",
            )
        return self


class RiskSettings(_Section):
    """Limits the risk gate enforces on every order; fractions are of a strategy's allocated capital."""

    max_position_pct: Annotated[float, Field(gt=0, le=1)] = 0.25
    max_order_notional: Annotated[float, Field(gt=0)] = 25_000.0
    max_open_orders: Annotated[int, Field(ge=1)] = 10
    daily_loss_limit_pct: Annotated[float, Field(gt=0, le=1)] = 0.05
    min_order_notional: Annotated[float, Field(ge=0)] = 100.0
    kill_switch_file: Path = Path("data/KILL_SWITCH")
    cancel_open_orders_on_kill: bool = True
    keep_protective_orders_on_kill: bool = True
    on_reconciliation_mismatch: Literal["halt_symbol", "adopt_broker", "ignore"] = "halt_symbol"

    @model_validator(mode="after")
    def _notional_bounds_ordered(self) -> RiskSettings:
        if self.min_order_notional > self.max_order_notional:
            raise CrossFieldError(
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
    def _class_path_is_a_name(cls, class_path: str) -> str:
        # Only the form: whether its module is allowed, and its class a strategy, is the strategy
        # registry's job (ibbot.strategies.sources), which imports nothing it has not allowed.
        if "." not in class_path or not is_module_name(class_path):
            raise ValueError("must be a dotted path 'package.module.ClassName' of Python names")
        return class_path


class AppSettings(_Section):
    """The main job (``ibbot run``): shutdown, saved state, reconciliation, the console, the control.

    ``shutdown_timeout`` bounds how long a SIGTERM/SIGINT waits for in-flight orders to settle
    before state is saved and the gateway disconnected (keep the container's stop grace period
    above it). ``control_port`` is the loopback HTTP/JSON control endpoint (0: a free port, written
    to ``<store.path>/control.json``; "off": none). ``strategy_packages`` and ``strategy_paths``
    are where strategy classes may come from besides ``ibbot.strategies``: importable packages, and
    directories of ``.py`` files (see :mod:`ibbot.strategies.sources`; by default ``strategies/``
    in the working directory, which may be missing); nothing else is imported.
    """

    shutdown_timeout: Annotated[float, Field(gt=0, le=600)] = 20.0
    state_save_interval: Annotated[float, Field(gt=0)] = 60.0
    reconcile_interval: Annotated[float, Field(gt=0)] = 300.0
    summary_interval: Annotated[float, Field(gt=0)] = 10.0
    max_strategy_failures: Annotated[int, Field(ge=1)] = 5
    store_ticks: bool = False
    control_port: Annotated[ListenPort | None, BeforeValidator(_none_word)] = 0
    control_host: Annotated[str, AfterValidator(_check_ip_address)] = "127.0.0.1"
    control_remote: bool = False
    strategy_packages: Annotated[
        list[Annotated[str, AfterValidator(_check_strategy_package)]],
        BeforeValidator(_words),
        AfterValidator(_check_unique),
    ] = Field(default_factory=list)
    strategy_paths: Annotated[
        list[Annotated[Path, AfterValidator(_check_directory)]], BeforeValidator(_words)
    ] = Field(default_factory=lambda: [USER_STRATEGIES])

    def strategy_sources(self) -> StrategySources:
        """Where strategy classes may be loaded from, as these settings declare."""
        return StrategySources(tuple(self.strategy_packages), tuple(self.strategy_paths))

    @model_validator(mode="after")
    def _remote_needs_consent(self) -> AppSettings:
        # A control endpoint others can reach must be asked for in so many words: then every
        # request, reads and the dashboard page included, needs the run's token.
        if not ipaddress.IPv4Address(self.control_host).is_loopback and not self.control_remote:
            raise CrossFieldError(
                "control_host",
                self.control_host,
                "is not a loopback address; set app.control_remote=true to serve the control "
                "endpoint and the dashboard beyond this machine (every request then needs the token)",
            )
        return self


NotifyEvent = Literal[
    "fill",
    "rejection",
    "risk_block",
    "kill_switch",
    "strategy_disabled",
    "disconnect",
    "reconnect",
    "daily_summary",
]
_NOTIFY_EVENTS: tuple[NotifyEvent, ...] = (
    "fill",
    "rejection",
    "risk_block",
    "kill_switch",
    "strategy_disabled",
    "disconnect",
    "reconnect",
    "daily_summary",
)


class NotifySettings(_Section):
    """Notifications (apprise URLs: ntfy, Telegram, Slack, Discord, e-mail, webhooks...).

    ``urls`` (a secret: set it in ``.env`` or the environment) and the lines of ``urls_file`` (a
    Docker secret, say) are the services; none means no notifications. ``events`` are the kinds
    sent; at most ``max_per_minute`` go out (the rest are counted and dropped); ``queue_size``
    bounds what waits to be sent; a disconnect is told once it has lasted ``disconnect_after``
    seconds; ``daily_summary_at`` is a market time (New York) for the day's summary, or "off".
    """

    urls: Annotated[str, SECRET] = ""
    urls_file: Annotated[Path | None, BeforeValidator(_none_word)] = None
    events: Annotated[list[NotifyEvent], BeforeValidator(_words)] = Field(
        default_factory=lambda: list(_NOTIFY_EVENTS)
    )
    max_per_minute: Annotated[int, Field(ge=1, le=600)] = 20
    queue_size: Annotated[int, Field(ge=1, le=10_000)] = 100
    timeout: Annotated[float, Field(gt=0, le=120)] = 10.0
    disconnect_after: Annotated[float, Field(ge=0)] = 60.0
    daily_summary_at: Annotated[
        str | None, BeforeValidator(_none_word), AfterValidator(_check_clock_time)
    ] = "16:15"


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
    strict_pacing: bool = False


# --- the whole -----------------------------------------------------------------------------------


class Settings(BaseSettings):
    """Every setting of ibbot, validated. Build it with :func:`load_settings` at the program's edge."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=ENV_DELIMITER,
        case_sensitive=False,
        # Values from env vars and flags are decoded by the field validators (JSON or word lists), so a
        # bad value becomes a validation error naming its key rather than a parser crash.
        enable_decoding=False,
        extra="forbid",
        frozen=True,
    )

    ib: IbSettings = Field(default_factory=IbSettings)
    app: AppSettings = Field(default_factory=AppSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    collector: CollectorSettings = Field(default_factory=CollectorSettings)
    risk: RiskSettings = Field(default_factory=RiskSettings)
    notify: NotifySettings = Field(default_factory=NotifySettings)
    fundamentals: FundamentalsSettings = Field(default_factory=FundamentalsSettings)
    strategies: list[StrategySettings] = Field(default_factory=list)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    sim: SimSettings = Field(default_factory=SimSettings)

    _source_files: tuple[Path, ...] = PrivateAttr(default=())

    @field_validator("*", mode="before")
    @classmethod
    def _decode_json(cls, value: Any) -> Any:
        # A whole section (or the strategy list) may come from one env var, as JSON.
        return _json_table(value)

    @model_validator(mode="after")
    def _store_of_the_world(self) -> Settings:
        # Unset, the store's directory follows the world: the embedded simulator's market never
        # shares a directory with a gateway's, and each seed (a market of its own) gets its own.
        if "path" not in self.store.model_fields_set:
            path = default_store_path(simulate=self.ib.simulate, seed=self.sim.seed)
            object.__setattr__(self, "store", self.store.model_copy(update={"path": path}))
        return self

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
        values = [
            value
            for path in secret_paths(type(self))
            if isinstance(value := lookup(dumped, path), str) and value
        ]
        # A secret listing several (notification URLs) is masked part by part too.
        parts = [part for value in values for part in re.split(r"[\s,]+", value) if part]
        return frozenset([*values, *parts])


def redacted_dump(settings: Settings) -> dict[str, Any]:
    """``settings`` as JSON-ready data with every non-empty secret replaced by :data:`REDACTED`."""
    dumped = settings.model_dump(mode="json")
    for path in secret_paths(type(settings)):
        *parents, leaf = path
        table = lookup(dumped, tuple(parents))
        if isinstance(table, dict) and table.get(leaf):
            table[leaf] = REDACTED
    return dumped


def secret_paths(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """The dotted paths (as tuples) of the fields marked :data:`SECRET` in ``model`` and its sections."""
    paths: list[tuple[str, ...]] = []
    for name, field in model.model_fields.items():
        path = (*prefix, name)
        if SECRET in field.metadata:
            paths.append(path)
        elif inspect.isclass(field.annotation) and issubclass(field.annotation, BaseModel):
            paths.extend(secret_paths(field.annotation, path))
    return paths


def lookup(data: Any, path: tuple[str, ...]) -> Any:
    """The value at ``path`` in nested dicts, or None where the path does not lead."""
    for part in path:
        if not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data
