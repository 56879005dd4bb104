"""ibbot: an asyncio-native trading service for Interactive Brokers."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ibbot")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

__all__ = ["__version__"]
