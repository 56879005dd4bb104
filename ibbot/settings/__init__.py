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

from ibbot.settings.loading import (
    DEFAULT_CONFIG_FILE,
    DEFAULT_ENV_FILE,
    load_settings,
    parse_override,
    plan_config_to_settings,
)
from ibbot.settings.model import (
    ENV_PREFIX,
    REDACTED,
    SECRET,
    AppSettings,
    CollectorSettings,
    FundamentalsSettings,
    IbSettings,
    LogFormat,
    LoggingSettings,
    LogLevel,
    NotifySettings,
    RiskSettings,
    Settings,
    SimSettings,
    StoreSettings,
    StrategySettings,
    default_store_path,
    is_paper_account,
    redacted_dump,
)

__all__ = [
    "DEFAULT_CONFIG_FILE",
    "DEFAULT_ENV_FILE",
    "ENV_PREFIX",
    "REDACTED",
    "SECRET",
    "AppSettings",
    "CollectorSettings",
    "FundamentalsSettings",
    "IbSettings",
    "LogFormat",
    "LogLevel",
    "LoggingSettings",
    "NotifySettings",
    "RiskSettings",
    "Settings",
    "SimSettings",
    "StoreSettings",
    "StrategySettings",
    "default_store_path",
    "is_paper_account",
    "load_settings",
    "parse_override",
    "plan_config_to_settings",
    "redacted_dump",
]
