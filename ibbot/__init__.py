"""ibbot: an asyncio-native trading service for Interactive Brokers.

``ibbot.__version__`` is looked up on first use: reading the installed package's metadata costs
tens of milliseconds that a command such as ``ibbot backtest`` has no use for.

structlog is imported here, first, with rich hidden from it. structlog imports rich's console,
traceback and pretty-printer modules (and through them attrs and pygments, ~40 ms) whenever rich
is installed, for its ``ConsoleRenderer``'s default exception formatter and the locals of its
dict tracebacks. ibbot uses neither: its logs render exceptions as plain text before redaction
(:mod:`ibbot.logs`; rich tracebacks would show local variables, where secrets live), through its
own console renderer. rich itself is imported where ibbot draws on a terminal.
"""

from __future__ import annotations

import sys

__all__ = ["__version__"]

__version__: str


def _import_structlog_without_rich() -> None:
    if "structlog" in sys.modules or "rich" in sys.modules:
        return  # imported already: nothing to save
    sys.modules["rich"] = None  # type: ignore[assignment] # `import rich` raises ImportError
    try:
        import structlog  # noqa: F401, PLC0415
    finally:
        del sys.modules["rich"]


_import_structlog_without_rich()


def __getattr__(name: str) -> str:
    if name != "__version__":
        raise AttributeError(f"module 'ibbot' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

    try:
        found = version("ibbot")
    except PackageNotFoundError:  # running from a source tree that was never installed
        found = "0.0.0"
    globals()["__version__"] = found
    return found
