"""``ibbot config show`` and ``ibbot config check``: the effective settings, and whether they are valid.

Both run after the CLI has loaded the settings, so an invalid setting has already stopped the program
with its one-line error (exit code 2) before either action runs. ``check`` also builds every
configured strategy, as ``ibbot run`` would: a class path outside the allowed strategy sources, a
class that is not a strategy, or params its constructor refuses stop it the same way, naming the
strategy.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import argparse

    from ibbot.settings import Settings

__all__ = ["configure", "run", "settings_toml"]

SHOW = "show"
CHECK = "check"
# TOML has no null; the settings that may be unset accept this word for "not set".
_NONE_TEXT = "none"


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the action argument."""
    parser.add_argument(
        "action",
        choices=(SHOW, CHECK),
        help=f"{SHOW}: print the effective settings as TOML, secrets redacted; "
        f"{CHECK}: validate the settings and name the files they came from",
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Print the settings (``show``) or confirm they are valid (``check``)."""
    if args.action == SHOW:
        sys.stdout.write(settings_toml(settings))
        return 0
    _build_strategies(settings)
    sys.stdout.write(f"configuration OK: {_files(settings)}\n")
    return 0


def _build_strategies(settings: Settings) -> None:
    """Build every configured strategy (enabled or not); :class:`ConfigError` for the first that fails."""
    from ibbot.strategies import create_strategy  # noqa: PLC0415

    sources = settings.app.strategy_sources()
    for strategy in settings.strategies:
        create_strategy(
            strategy.class_path,
            name=strategy.name,
            allocated_capital=strategy.allocated_capital,
            params=strategy.params,
            sources=sources,
        )


def settings_toml(settings: Settings) -> str:
    """``settings`` as a TOML document that loads back to the same settings, secrets redacted."""
    import tomli_w  # noqa: PLC0415 - only `config show` needs a TOML writer

    from ibbot.settings import REDACTED, redacted_dump  # noqa: PLC0415 - keeps `ibbot --help` fast

    header = (
        f"# ibbot's effective settings; files read: {_files(settings)}\n"
        f'# secrets are shown as "{REDACTED}"\n\n'
    )
    return header + tomli_w.dumps(_without_none(redacted_dump(settings)))


def _files(settings: Settings) -> str:
    if not settings.source_files:
        return "none (defaults, environment and flags only)"
    return ", ".join(str(path) for path in settings.source_files)


def _without_none(value: Any) -> Any:
    if value is None:
        return _NONE_TEXT
    if isinstance(value, dict):
        return {key: _without_none(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_without_none(item) for item in value]
    return value
