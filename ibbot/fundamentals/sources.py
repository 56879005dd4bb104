"""Opening the configured fundamentals sources, in priority order, for a service to use.

``open_sources`` builds the SEC source from the ``[fundamentals]`` settings (and closes it after);
sources that live elsewhere are handed in ready-made through ``provided``: the orchestrator passes
its IB adapter as ``{"ib": ib_source}``. A configured source nobody can provide is a
:class:`~ibbot.errors.ConfigError`, so a typo or a missing adapter is reported before any fetch.
"""

from __future__ import annotations

from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING

from ibbot.errors import ConfigError
from ibbot.fundamentals.prices import StorePrices

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Mapping, Sequence

    import httpx

    from ibbot.clock import Clock
    from ibbot.fundamentals.source import FundamentalsSource
    from ibbot.settings import FundamentalsSettings
    from ibbot.store import AsyncStore

__all__ = ["open_sources"]

_SEC = "sec"


@asynccontextmanager
async def open_sources(
    settings: FundamentalsSettings,
    *,
    store: AsyncStore,
    clock: Clock,
    names: Sequence[str] | None = None,
    provided: Mapping[str, FundamentalsSource] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> AsyncIterator[list[FundamentalsSource]]:
    """The sources ``names`` (default: ``settings.sources``), in that order, open for use."""
    wanted = list(settings.sources if names is None else names)
    ready = dict(provided or {})
    async with AsyncExitStack() as stack:
        sources: list[FundamentalsSource] = []
        for name in wanted:
            if name in ready:
                sources.append(ready[name])
            elif name == _SEC:
                from ibbot.fundamentals.sec import (  # noqa: PLC0415 - httpx only when SEC is used
                    EdgarClient,
                    SecSource,
                )

                client = EdgarClient.from_settings(settings, clock=clock, transport=transport)
                await stack.enter_async_context(client)
                sources.append(SecSource(client, prices=StorePrices(store)))
            else:
                raise ConfigError(
                    "fundamentals.sources",
                    name,
                    "no such source is available here (the 'ib' source is provided by the IB "
                    "adapter when connected to a gateway; 'sec' needs no connection)",
                )
        yield sources
