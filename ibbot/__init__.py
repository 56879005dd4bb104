"""ibbot: an asyncio-native trading service for Interactive Brokers.

``ibbot.__version__`` is looked up on first use: reading the installed package's metadata costs
tens of milliseconds that a command such as ``ibbot backtest`` has no use for.
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__: str


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
